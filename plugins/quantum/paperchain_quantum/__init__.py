"""Paperchain quantum: circuits, algorithms and a fused state-vector simulator (a Cirq drop-in)."""

from __future__ import annotations

__version__ = "0.1.0"


def __getattr__(name: str):
    # ``paperchain_quantum.Simulator`` without importing cirq and numba when the plugin loads.
    if name == "Simulator":
        from .simulator import Simulator

        return Simulator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
