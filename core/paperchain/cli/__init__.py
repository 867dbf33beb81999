"""The ``paperchain`` command line (click). Heavy imports happen inside commands, never at start."""
