"""Refuse a state vector that cannot fit before allocating it."""

from __future__ import annotations

import os

from paperchain_sdk import InputError


def available_bytes() -> int:
    """MemAvailable from /proc/meminfo (Linux), else free physical pages from sysconf."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def state_bytes(qubits: int, itemsize: int) -> int:
    return itemsize << qubits


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{n} B"
        n /= 1024
    return f"{n} B"


def check_fits(qubits: int, itemsize: int, *, max_qubits: int | None = None, copies: int = 1) -> int:
    """The bytes ``qubits`` qubits need; raise InputError (naming need and availability) if too many."""
    need = state_bytes(qubits, itemsize) * copies
    if max_qubits is not None and qubits > max_qubits:
        raise InputError(f"the circuit has {qubits} qubits; this deployment allows at most {max_qubits} "
                         f"(the state would need {_size(need)}).",
                         hint="raise max_qubits in the quantum settings, or use fewer qubits")
    have = available_bytes()
    if need > have:
        raise InputError(f"a {qubits}-qubit state vector needs {_size(need)} "
                         f"({itemsize} bytes x 2^{qubits}), but only {_size(have)} of memory is available.",
                         hint="use fewer qubits, complex64 instead of complex128, or a bigger machine")
    return need
