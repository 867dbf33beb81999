"""Settings classes (attrs only, so the hook module stays light)."""

from __future__ import annotations

import attrs

BACKENDS = ("paperchain", "cirq")


@attrs.define
class RunSettings:
    """``quantum.run``: simulate a circuit file (OpenQASM 2.0, Cirq JSON or a JSON gate list).

    circuit: the file's path. format: qasm, cirq-json, gates or auto. shots: samples of the
    measurements (bounded by max_shots). backend: paperchain (the fused simulator) or cirq.
    max_qubits: refuse bigger circuits before allocating their state. max_gates: refuse longer
    circuits. time_limit_s: stop a simulation that runs longer (between fused blocks and shots).
    Deployment settings for API jobs (``[components."quantum.run"]``): job_max_qubits,
    job_max_shots (jobs share the server's machine, so they get tighter bounds than steps).
    """

    circuit: str = ""
    format: str = attrs.field(default="auto", validator=attrs.validators.in_(("auto", "qasm", "cirq-json", "gates")))
    shots: int = attrs.field(default=1000, validator=[attrs.validators.ge(1), attrs.validators.le(1_000_000)])
    backend: str = attrs.field(default="paperchain", validator=attrs.validators.in_(BACKENDS))
    max_qubits: int = attrs.field(default=28, validator=[attrs.validators.ge(1), attrs.validators.le(34)])
    seed: int | None = None
    max_gates: int = attrs.field(default=1_000_000, validator=attrs.validators.ge(1))
    time_limit_s: float = attrs.field(default=600.0, validator=attrs.validators.gt(0))
    job_max_qubits: int = attrs.field(default=24, validator=[attrs.validators.ge(1), attrs.validators.le(34)])
    job_max_shots: int = attrs.field(default=100_000, validator=attrs.validators.ge(1))


@attrs.define
class AlgorithmSettings:
    """``quantum.<algorithm>``: the algorithm's parameters (see ``paperchain quantum algorithms``).

    params: keyword arguments for the algorithm, e.g. {"number": 21} for shor,
    {"qubits": 5, "marked": [3]} for grover, {"edges": [[0, 1], [1, 2]]} for qaoa.
    """

    params: dict = attrs.field(factory=dict)
