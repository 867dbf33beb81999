"""The fused simulator against the NumPy reference and against cirq.Simulator in complex128."""

from __future__ import annotations

import cirq
import numpy as np
import pytest
import sympy

import paperchain_quantum
from paperchain_quantum import engine, kernels, reference
from paperchain_quantum.fusion import fuse
from paperchain_sdk import InputError

GATES = {  # every family random_circuit can draw from, with their arities
    cirq.X: 1, cirq.Y: 1, cirq.Z: 1, cirq.H: 1, cirq.S: 1, cirq.T: 1,
    cirq.rx(0.3): 1, cirq.ry(-1.1): 1, cirq.rz(2.2): 1, cirq.PhasedXPowGate(phase_exponent=0.25, exponent=0.7): 1,
    cirq.PhasedXZGate(x_exponent=0.3, z_exponent=0.1, axis_phase_exponent=0.7): 1,
    cirq.CNOT: 2, cirq.CZ: 2, cirq.SWAP: 2, cirq.ISWAP: 2, cirq.ISWAP ** 0.5: 2, cirq.SQRT_ISWAP_INV: 2,
    cirq.FSimGate(theta=0.4, phi=0.9): 2, cirq.XX ** 0.3: 2, cirq.YY ** 0.6: 2, cirq.ZZ ** 0.2: 2,
    cirq.CZPowGate(exponent=0.37): 2, cirq.givens(0.3): 2, cirq.PhasedISwapPowGate(phase_exponent=0.2, exponent=0.5): 2,
    cirq.ControlledGate(cirq.H): 2, cirq.ControlledGate(cirq.ry(0.5)): 2,
    cirq.CCX: 3, cirq.CCZ: 3, cirq.CSWAP: 3, cirq.ControlledGate(cirq.ISWAP): 3,
    cirq.ControlledGate(cirq.rx(0.2), num_controls=2): 3, cirq.QuantumFourierTransformGate(4): 4,
    cirq.MatrixGate(cirq.testing.random_unitary(32, random_state=3)): 5,
}


def fidelity(a, b) -> float:
    return abs(np.vdot(a.astype(np.complex128), b.astype(np.complex128))) ** 2


def reference_state(circuit, qubits):
    return cirq.Simulator(dtype=np.complex128).simulate(circuit, qubit_order=qubits).final_state_vector


@pytest.mark.parametrize("positions", [[9, 8, 7, 6], [3, 2, 1, 0], [0, 5, 2, 9], [6, 1], [0], [9]])
@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_kernel_matches_numpy_reference(positions, dtype):
    rng = np.random.default_rng(7)
    state = (rng.normal(size=1 << 10) + 1j * rng.normal(size=1 << 10)).astype(dtype)
    matrix = cirq.testing.random_unitary(1 << len(positions), random_state=11)
    expected = reference.apply_block(state.astype(np.complex128), matrix, np.array(positions))
    offsets, ascending = kernels.block_layout(np.array(positions))
    real = np.float32 if dtype == np.complex64 else np.float64
    kernels.apply_block(state, matrix.real.astype(real), matrix.imag.astype(real), offsets, ascending, 4)
    np.testing.assert_allclose(state, expected, atol=1e-5 if dtype == np.complex64 else 1e-12)


def test_fused_blocks_multiply_to_the_circuit_unitary():
    qubits = cirq.LineQubit.range(6)
    circuit = cirq.testing.random_circuit(qubits, n_moments=30, op_density=0.9, random_state=5)
    blocks = fuse([(tuple(q.x for q in op.qubits), cirq.unitary(op)) for op in circuit.all_operations()], 4)
    assert all(1 <= len(b.qubits) <= 4 for b in blocks)
    assert len(blocks) < len(list(circuit.all_operations()))
    state = np.zeros(64, dtype=np.complex128)
    state[0] = 1
    for block in blocks:
        state = reference.apply_block(state, block.matrix, np.array([5 - q for q in block.qubits]))
    assert fidelity(state, reference_state(circuit, qubits)) > 1 - 1e-12


@pytest.mark.parametrize("n, seed", [(3, 0), (5, 1), (8, 2), (11, 3), (12, 4)])
@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_random_circuits_match_cirq(n, seed, dtype):
    qubits = cirq.LineQubit.range(n)
    domain = {g: k for g, k in GATES.items() if k <= n}
    circuit = cirq.testing.random_circuit(qubits, n_moments=25, op_density=0.8, gate_domain=domain, random_state=seed)
    result = paperchain_quantum.Simulator(dtype=dtype).simulate(circuit, qubit_order=qubits)
    assert isinstance(result, cirq.StateVectorTrialResult)
    assert result.final_state_vector.dtype == dtype
    assert fidelity(result.final_state_vector, reference_state(circuit, qubits)) > 0.99999


@pytest.mark.slow
@pytest.mark.parametrize("n", [14, 16])
def test_random_circuits_match_cirq_up_to_16_qubits(n):
    qubits = cirq.LineQubit.range(n)
    circuit = cirq.testing.random_circuit(qubits, n_moments=40, op_density=0.9, gate_domain=GATES, random_state=n)
    ours = paperchain_quantum.Simulator().simulate(circuit, qubit_order=qubits).final_state_vector
    assert fidelity(ours, reference_state(circuit, qubits)) > 0.99999


def test_parametrized_circuit_sweeps_like_cirq():
    a, b = sympy.symbols("a b")
    q = cirq.LineQubit.range(3)
    circuit = cirq.Circuit(cirq.rx(a).on(q[0]), cirq.CNOT(q[0], q[1]), cirq.CZPowGate(exponent=b).on(q[1], q[2]),
                           cirq.H(q[2]), cirq.ry(a * 2).on(q[2]))
    sweep = cirq.Zip(cirq.Linspace("a", 0, 3, 4), cirq.Linspace("b", 0.1, 0.9, 4))
    ours = paperchain_quantum.Simulator(dtype=np.complex128).simulate_sweep(circuit, sweep)
    theirs = cirq.Simulator(dtype=np.complex128).simulate_sweep(circuit, sweep)
    for x, y in zip(ours, theirs):
        assert x.params == y.params
        assert fidelity(x.final_state_vector, y.final_state_vector) > 1 - 1e-12
    with pytest.raises(ValueError, match="unresolved parameters"):
        paperchain_quantum.Simulator().simulate(circuit)


def test_samples_pass_a_chi_square_test():
    from scipy.stats import chisquare

    qubits = cirq.LineQubit.range(5)
    circuit = cirq.Circuit(cirq.H.on_each(*qubits), cirq.testing.random_circuit(qubits, n_moments=12, op_density=1.0, random_state=9))
    probabilities = np.abs(reference_state(circuit, qubits)) ** 2
    shots = 20000
    result = paperchain_quantum.Simulator(seed=1).run(circuit + cirq.measure(*qubits, key="m"), repetitions=shots)
    counts = np.bincount(result.data["m"].to_numpy(), minlength=32)
    expected = probabilities * shots
    keep = expected > 5  # chi-square needs enough expected counts per cell
    assert keep.sum() >= 10
    observed, expect = counts[keep], expected[keep]
    assert chisquare(observed, expect * observed.sum() / expect.sum()).pvalue > 0.001


def test_measurement_results_are_shaped_and_inverted_like_cirq():
    q = cirq.LineQubit.range(3)
    circuit = cirq.Circuit(cirq.X(q[0]), cirq.X(q[2]), cirq.measure(q[2], q[0], q[1], key="m", invert_mask=(False, False, True)))
    ours = paperchain_quantum.Simulator().run(circuit, repetitions=5)
    theirs = cirq.Simulator().run(circuit, repetitions=5)
    assert ours.records["m"].shape == theirs.records["m"].shape
    np.testing.assert_array_equal(ours.records["m"], theirs.records["m"])


def test_mid_circuit_measurement_and_classical_control():
    q = cirq.LineQubit.range(3)
    mid = cirq.Circuit(cirq.H(q[0]), cirq.measure(q[0], key="a"), cirq.CNOT(q[0], q[1]), cirq.H(q[0]),
                       cirq.measure(q[0], q[1], key="b"))
    result = paperchain_quantum.Simulator(seed=3).run(mid, repetitions=400)
    a, b = result.records["a"][:, 0, 0], result.records["b"][:, 0, :]
    np.testing.assert_array_equal(b[:, 1], a)  # the CNOT copied the collapsed bit
    assert 0.35 < a.mean() < 0.65 and 0.35 < b[:, 0].mean() < 0.65
    controlled = cirq.Circuit(cirq.H(q[0]), cirq.measure(q[0], key="c"), cirq.X(q[2]).with_classical_controls("c"),
                              cirq.measure(q[2], key="d"))
    result = paperchain_quantum.Simulator(seed=4).run(controlled, repetitions=200)
    np.testing.assert_array_equal(result.records["c"], result.records["d"])


def test_noise_goes_through_cirq_and_gives_its_answer():
    q = cirq.LineQubit(0)
    circuit = cirq.Circuit(cirq.X(q), cirq.amplitude_damp(1.0).on(q), cirq.measure(q, key="m"))
    assert paperchain_quantum.Simulator().run(circuit, repetitions=20).records["m"].sum() == 0


def test_expectation_values_match_cirq():
    q = cirq.LineQubit.range(4)
    circuit = cirq.testing.random_circuit(q, n_moments=10, op_density=1.0, random_state=2)
    observables = [cirq.Z(q[0]) * cirq.Z(q[1]), 0.5 * cirq.X(q[2]) + cirq.Y(q[3]) - 0.25 * cirq.PauliString()]
    ours = paperchain_quantum.Simulator(dtype=np.complex128).simulate_expectation_values(circuit, observables)
    theirs = cirq.Simulator(dtype=np.complex128).simulate_expectation_values(circuit, observables)
    np.testing.assert_allclose(ours, theirs, atol=1e-10)
    with pytest.raises(ValueError, match="terminal measurements"):
        paperchain_quantum.Simulator().simulate_expectation_values(circuit + cirq.measure(*q), observables)


def test_initial_state_and_qubit_order():
    q = cirq.LineQubit.range(3)
    circuit = cirq.Circuit(cirq.CNOT(q[0], q[2]), cirq.H(q[1]))
    for initial in (5, cirq.testing.random_superposition(8, random_state=1)):
        ours = paperchain_quantum.Simulator(dtype=np.complex128).simulate(circuit, qubit_order=q[::-1], initial_state=initial)
        theirs = cirq.Simulator(dtype=np.complex128).simulate(circuit, qubit_order=q[::-1], initial_state=initial)
        np.testing.assert_allclose(ours.final_state_vector, theirs.final_state_vector, atol=1e-12)


def test_too_big_a_circuit_is_refused_before_it_starts():
    qubits = cirq.LineQubit.range(45)
    with pytest.raises(InputError, match=r"needs 256\.0 TiB.*available"):
        paperchain_quantum.Simulator().simulate(cirq.Circuit(cirq.H.on_each(*qubits)))
    with pytest.raises(InputError, match="at most 10"):
        paperchain_quantum.Simulator(max_qubits=10).simulate(cirq.Circuit(cirq.H.on_each(*qubits[:11])))


def test_gpu_path_matches_cpu():
    cupy = pytest.importorskip("cupy")
    if not cupy.is_available():
        pytest.skip("no GPU here: cupy.is_available() is False")
    qubits = cirq.LineQubit.range(10)
    circuit = cirq.testing.random_circuit(qubits, n_moments=20, op_density=0.9, random_state=8)
    gpu = paperchain_quantum.Simulator(device="gpu").simulate(circuit, qubit_order=qubits).final_state_vector
    assert fidelity(gpu, reference_state(circuit, qubits)) > 0.99999


def test_engine_program_counts_blocks():
    qubits = cirq.GridQubit.rect(2, 3)
    circuit = cirq.experiments.random_rotations_between_grid_interaction_layers_circuit(qubits, depth=6, seed=0)
    program = engine.compile_circuit(circuit, sorted(qubits))
    assert 0 < program.block_count < program.gate_count


def test_time_limit_stops_between_blocks_and_shots():
    from paperchain_quantum.engine import TimeLimitExceeded

    qubits = cirq.LineQubit.range(10)
    circuit = cirq.testing.random_circuit(qubits, n_moments=20, op_density=1.0, random_state=1)
    with pytest.raises(TimeLimitExceeded, match="time limit"):
        paperchain_quantum.Simulator(time_limit=1e-9).simulate(circuit)
    mid = cirq.Circuit(cirq.H(qubits[0]), cirq.measure(qubits[0], key="a"), cirq.H(qubits[0]), cirq.measure(qubits[0], key="b"))
    with pytest.raises(TimeLimitExceeded):
        paperchain_quantum.Simulator(time_limit=1e-9).run(mid, repetitions=10)
    assert paperchain_quantum.Simulator(time_limit=60).run(mid, repetitions=10).records["b"].shape == (10, 1, 1)


def test_amplitudes_match_cirq():
    q = cirq.LineQubit.range(5)
    circuit = cirq.testing.random_circuit(q, n_moments=10, op_density=1.0, random_state=4)
    ours = paperchain_quantum.Simulator(dtype=np.complex128).compute_amplitudes(circuit, [0, 7, 31])
    theirs = cirq.Simulator(dtype=np.complex128).compute_amplitudes(circuit, [0, 7, 31])
    np.testing.assert_allclose(ours, theirs, atol=1e-12)


def test_drop_in_where_cirq_simulator_stood():
    """cirq's own helpers take it like cirq.Simulator: sampling to a DataFrame, final states."""
    q = cirq.LineQubit.range(2)
    circuit = cirq.Circuit(cirq.H(q[0]), cirq.CNOT(*q), cirq.measure(*q, key="m"))
    frame = paperchain_quantum.Simulator(seed=5).sample(circuit, repetitions=100)
    assert set(frame["m"]) <= {0, 3} and len(frame) == 100
    assert isinstance(paperchain_quantum.Simulator(), (cirq.SimulatesSamples, cirq.SimulatesFinalState,
                                                       cirq.SimulatesAmplitudes, cirq.SimulatesExpectationValues))
    state = cirq.final_state_vector(cirq.Circuit(cirq.H(q[0]), cirq.CNOT(*q)), dtype=np.complex64)
    ours = paperchain_quantum.Simulator().simulate(cirq.Circuit(cirq.H(q[0]), cirq.CNOT(*q))).final_state_vector
    np.testing.assert_allclose(ours, state, atol=1e-6)


def test_global_phase_is_kept():
    q = cirq.LineQubit.range(2)
    for circuit in (cirq.Circuit(cirq.global_phase_operation(1j), cirq.X(q[0]), cirq.I(q[1])),
                    cirq.Circuit(cirq.H(q[0]), cirq.global_phase_operation(-1), cirq.measure(q[0], key="m"),
                                 cirq.global_phase_operation(1j), cirq.I(q[1]))):
        ours = paperchain_quantum.Simulator(dtype=np.complex128, seed=1).simulate(circuit, qubit_order=q)
        theirs = cirq.Simulator(dtype=np.complex128, seed=1).simulate(circuit, qubit_order=q)
        assert ours.measurements.keys() == theirs.measurements.keys()
        if not ours.measurements or ours.measurements["m"][0] == theirs.measurements["m"][0]:
            np.testing.assert_allclose(ours.final_state_vector, theirs.final_state_vector, atol=1e-12)
