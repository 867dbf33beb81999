"""Paperchain: a plugin-based runtime for document workflows."""

__version__ = "0.1.0"
