"""``paperchain_quantum.Simulator``: a drop-in for ``cirq.Simulator`` on the fused Numba kernels.

It implements Cirq's ``SimulatesSamples`` (``run``/``sample``), ``SimulatesAmplitudes``, ``SimulatesFinalState``
(``simulate`` returns a ``cirq.StateVectorTrialResult``) and ``SimulatesExpectationValues``.
Unitary gates and measurements (terminal or mid-circuit) run on our kernels; a circuit holding
anything else (noise channels, classical control, resets, qudits) is handed to ``cirq.Simulator``
with the same dtype and seed, so every circuit Cirq accepts gives Cirq's answer.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import cirq
import numpy as np

from . import engine, gpu
from .memory import check_fits


class Simulator(cirq.SimulatesSamples, cirq.SimulatesAmplitudes, cirq.SimulatesFinalState,
                cirq.SimulatesExpectationValues):
    """State-vector simulator with qsim-style gate fusion.

    Args:
        dtype: ``np.complex64`` (default) or ``np.complex128``.
        seed: a seed or ``np.random.RandomState``/``Generator`` for sampling.
        max_fused_gate_size: qubits per fused block (1 to 4; 4 is fastest for most circuits).
        threads: Numba threads (2 by default).
        device: "auto" (GPU through CuPy when ``cupy.is_available()``), "cpu" or "gpu".
        max_qubits: refuse bigger circuits (None: only the machine's memory limits).
        time_limit: seconds one simulate/run call may take (checked between fused blocks and
            between shots; past it, ``engine.TimeLimitExceeded``). None: no limit.

    >>> import cirq, paperchain_quantum
    >>> q = cirq.LineQubit.range(2)
    >>> c = cirq.Circuit(cirq.H(q[0]), cirq.CNOT(*q))
    >>> paperchain_quantum.Simulator().simulate(c).final_state_vector.round(3)
    array([0.707+0.j, 0.   +0.j, 0.   +0.j, 0.707+0.j], dtype=complex64)
    """

    def __init__(self, *, dtype: type = np.complex64, seed: Any = None, max_fused_gate_size: int = 4,
                 threads: int = 2, device: str = "auto", max_qubits: int | None = None,
                 time_limit: float | None = None):
        if np.dtype(dtype) not in (np.complex64, np.complex128):
            raise ValueError(f"dtype must be np.complex64 or np.complex128, not {dtype!r}")
        if not 1 <= max_fused_gate_size <= 4:
            raise ValueError(f"max_fused_gate_size must be 1 to 4, not {max_fused_gate_size}")
        if device not in ("auto", "cpu", "gpu"):
            raise ValueError(f"device must be 'auto', 'cpu' or 'gpu', not {device!r}")
        if device == "gpu" and not gpu.available():
            raise ValueError("device='gpu' but no GPU is usable (cupy.is_available() is False)")
        self.dtype = np.dtype(dtype).type
        self.max_fused_gate_size = max_fused_gate_size
        self.threads = threads
        self.max_qubits = max_qubits
        self.time_limit = time_limit
        self.use_gpu = device == "gpu" or (device == "auto" and gpu.available())
        self._seed = seed
        self._rng = _generator(seed)

    # -- the state vector itself -------------------------------------------------------------

    def state_vector(self, program: cirq.AbstractCircuit, param_resolver: cirq.ParamResolverOrSimilarType = None,
                     qubit_order: cirq.QubitOrderOrList = cirq.QubitOrder.DEFAULT,
                     initial_state: Any = None) -> np.ndarray:
        """The final state as a bare NumPy array: one buffer, no copy (measurements collapse it)."""
        state, _, _ = self._final(program, cirq.ParamResolver(param_resolver), qubit_order, initial_state)
        return state

    def _qubits(self, program, qubit_order) -> tuple[cirq.Qid, ...]:
        return tuple(cirq.QubitOrder.as_qubit_order(qubit_order).order_for(program.all_qubits()))

    def _program(self, program, resolver, qubits) -> engine.Program:
        if not cirq.is_parameterized(program):  # resolving copies the circuit: skip it when it is moot
            return engine.compile_circuit(program, qubits, self.max_fused_gate_size)
        resolved = cirq.resolve_parameters(program, resolver)
        if cirq.is_parameterized(resolved):
            raise ValueError(f"the circuit has unresolved parameters: {sorted(map(str, cirq.parameter_names(resolved)))}")
        return engine.compile_circuit(resolved, qubits, self.max_fused_gate_size)

    def _allocate(self, n: int, initial_state):
        check_fits(n, np.dtype(self.dtype).itemsize, max_qubits=self.max_qubits)
        state = engine.new_state(n, self.dtype, initial_state)
        if self.use_gpu:
            import cupy

            state = cupy.asarray(state)
        return state

    def _final(self, program, resolver, qubit_order, initial_state):
        qubits = self._qubits(program, qubit_order)
        compiled = self._program(program, resolver, qubits)
        state = self._allocate(len(qubits), initial_state)
        records = engine.execute(compiled, state, self._rng, self.threads, self._deadline())
        if not isinstance(state, np.ndarray):
            state = state.get()
        return state, records, qubits

    def _deadline(self) -> float | None:
        return None if self.time_limit is None else time.monotonic() + self.time_limit

    def _cirq(self) -> cirq.Simulator:
        return cirq.Simulator(dtype=self.dtype, seed=int(self._rng.integers(2**31)))

    # -- SimulatesFinalState -----------------------------------------------------------------

    def simulate_sweep_iter(self, program: cirq.AbstractCircuit, params: cirq.Sweepable,
                            qubit_order: cirq.QubitOrderOrList = cirq.QubitOrder.DEFAULT,
                            initial_state: Any = None) -> Iterator[cirq.StateVectorTrialResult]:
        for resolver in cirq.to_resolvers(params):
            try:
                state, records, qubits = self._final(program, resolver, qubit_order, initial_state)
            except engine.Unsupported:
                yield self._cirq().simulate(program, resolver, qubit_order, initial_state)
                continue
            final = cirq.StateVectorSimulationState(qubits=qubits, initial_state=state.reshape((2,) * len(qubits)),
                                                    dtype=self.dtype)
            del state  # the trial result holds its own copy
            measurements = {key: np.concatenate(v) if len(v) > 1 else v[0] for key, v in records.items()}
            yield cirq.StateVectorTrialResult(params=resolver, measurements=measurements,
                                              final_simulator_state=final)

    # -- SimulatesAmplitudes -----------------------------------------------------------------

    def compute_amplitudes_sweep_iter(self, program: cirq.AbstractCircuit, bitstrings, params: cirq.Sweepable,
                                      qubit_order: cirq.QubitOrderOrList = cirq.QubitOrder.DEFAULT):
        if program.has_measurements():
            raise ValueError("amplitudes are defined for circuits without measurements")
        for resolver in cirq.to_resolvers(params):
            try:
                state = self.state_vector(program, resolver, qubit_order)
            except engine.Unsupported:
                state = self._cirq().simulate(program, resolver, qubit_order).final_state_vector
            yield [complex(state[int(b)]) for b in bitstrings]

    # -- SimulatesSamples --------------------------------------------------------------------

    def _run(self, circuit: cirq.AbstractCircuit, param_resolver: cirq.ParamResolver,
             repetitions: int) -> dict[str, np.ndarray]:
        qubits = self._qubits(circuit, cirq.QubitOrder.DEFAULT)
        try:
            compiled = self._program(circuit, param_resolver, qubits)
        except engine.Unsupported:
            return self._cirq()._run(cirq.resolve_parameters(circuit, param_resolver), param_resolver, repetitions)
        deadline = self._deadline()
        if compiled.terminal_measurements:
            state = self._allocate(len(qubits), None)
            for step in compiled.steps:
                if not isinstance(step, engine.Measure):
                    engine.apply_step(state, len(qubits), step, self.threads, deadline)
            return engine.sample_terminal(compiled, state, repetitions, self._rng)
        shots: list[dict[str, list[np.ndarray]]] = []
        for _ in range(repetitions):  # mid-circuit measurements: one trajectory per shot
            engine.check_deadline(deadline)
            state = self._allocate(len(qubits), None)
            shots.append(engine.execute(compiled, state, self._rng, self.threads, deadline))
        return {key: np.stack([np.stack(shot[key]) for shot in shots]) for key in shots[0]} if shots else {}

    # -- SimulatesExpectationValues ----------------------------------------------------------

    def simulate_expectation_values_sweep_iter(self, program: cirq.AbstractCircuit,
                                               observables: cirq.PauliSumLike | list[cirq.PauliSumLike],
                                               params: cirq.Sweepable,
                                               qubit_order: cirq.QubitOrderOrList = cirq.QubitOrder.DEFAULT,
                                               initial_state: Any = None,
                                               permit_terminal_measurements: bool = False) -> Iterator[list[float]]:
        if not permit_terminal_measurements and program.are_any_measurements_terminal():
            raise ValueError("Provided circuit has terminal measurements, which may skew expectation values. "
                             "If this is intentional, set permit_terminal_measurements=True.")
        sums = [cirq.PauliSum.wrap(o) for o in (observables if isinstance(observables, list) else [observables])]
        qubits = self._qubits(program, qubit_order)
        qubit_map = {q: i for i, q in enumerate(qubits)}
        for result in self.simulate_sweep_iter(program, params, qubit_order, initial_state):
            vector = result.final_state_vector
            yield [s.expectation_from_state_vector(vector, qubit_map, check_preconditions=False) for s in sums]


def _generator(seed) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, np.random.RandomState):
        return np.random.default_rng(seed.randint(2**31))
    return np.random.default_rng(seed)
