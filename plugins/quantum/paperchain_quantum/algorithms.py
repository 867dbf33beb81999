"""Ready-made algorithms with parameters; each returns a JSON-ready dict of readable results.

Every result has ``algorithm``, ``circuit`` (Cirq's text drawing) and the algorithm's own
answers; sampled ones add ``counts`` (bitstring -> shots) and ``most_likely``.
"""

from __future__ import annotations

import math
from fractions import Fraction

import cirq
import numpy as np

from paperchain_sdk import InputError

from .simulator import Simulator

CHEMICAL_ACCURACY = 1.6e-3  # hartree


def _simulator(seed, dtype=np.complex64) -> Simulator:
    return Simulator(seed=seed, dtype=dtype)


def _bits(value: int, width: int) -> str:
    return format(value, f"0{width}b")


def _counts(result: cirq.Result, key: str, width: int) -> dict[str, int]:
    values = result.data[key].to_numpy()
    unique, count = np.unique(values, return_counts=True)
    order = np.argsort(-count, kind="stable")
    return {_bits(int(unique[i]), width): int(count[i]) for i in order}


def _common(name: str, circuit: cirq.Circuit, **extra) -> dict:
    return {"algorithm": name, "circuit": str(circuit), "qubits": len(circuit.all_qubits()), **extra}


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise InputError(message)


def grover(qubits: int = 4, marked: list[int] | None = None, shots: int = 1000, seed: int | None = None) -> dict:
    """Grover search for ``marked`` items among 2^qubits; the optimal number of iterations."""
    marked = [5] if marked is None else [int(m) for m in marked]
    _check(2 <= qubits <= 20, f"qubits must be 2 to 20, got {qubits}")
    _check(0 < len(marked) < 2 ** qubits / 2 and all(0 <= m < 2 ** qubits for m in marked),
           f"marked must be fewer than half of 0..{2 ** qubits - 1}, got {marked}")
    q = cirq.LineQubit.range(qubits)
    iterations = max(1, math.floor(math.pi / 4 * math.sqrt(2 ** qubits / len(marked))))
    flip = cirq.Z.controlled(qubits - 1) if qubits > 1 else cirq.Z

    def phase_flip(item: int):
        zeros = [q[i] for i in range(qubits) if not (item >> (qubits - 1 - i)) & 1]
        return [cirq.X.on_each(*zeros), flip.on(*q), cirq.X.on_each(*zeros)]

    circuit = cirq.Circuit(cirq.H.on_each(*q))
    for _ in range(iterations):
        circuit += [phase_flip(m) for m in marked]
        circuit += [cirq.H.on_each(*q), phase_flip(0), cirq.H.on_each(*q)]
    sim = _simulator(seed)
    state = sim.simulate(circuit, qubit_order=q).final_state_vector
    success = float(sum(abs(state[m]) ** 2 for m in marked))
    counts = _counts(sim.run(circuit + cirq.measure(*q, key="m"), repetitions=shots), "m", qubits)
    return _common("grover", circuit, marked=[_bits(m, qubits) for m in marked], iterations=iterations,
                   success_probability=success, counts=counts, most_likely=list(counts)[: len(marked)])


def qft(qubits: int = 4, value: int = 1, seed: int | None = None) -> dict:
    """The quantum Fourier transform of the basis state |value>, checked against NumPy's FFT."""
    _check(1 <= qubits <= 20 and 0 <= value < 2 ** qubits, f"need 1 <= qubits <= 20 and 0 <= value < 2^qubits, got qubits={qubits}, value={value}")
    q = cirq.LineQubit.range(qubits)
    prepare = [cirq.X(q[i]) for i in range(qubits) if (value >> (qubits - 1 - i)) & 1]
    circuit = cirq.Circuit(prepare, cirq.qft(*q, without_reverse=False))
    state = _simulator(seed, np.complex128).simulate(circuit, qubit_order=q).final_state_vector
    basis = np.zeros(2 ** qubits)
    basis[value] = 1
    expected = np.fft.ifft(basis, norm="ortho")
    shown = {_bits(i, qubits): [round(float(a.real), 4), round(float(a.imag), 4)] for i, a in enumerate(state[:8])}
    return _common("qft", cirq.Circuit(cirq.decompose(circuit)), value=value,
                   max_error_vs_fft=float(np.abs(state - expected).max()), first_amplitudes=shown)


class ModularMultiply(cirq.ArithmeticGate):
    """|exponent>|target> -> |exponent>|target * base^exponent mod modulus> (target < modulus)."""

    def __init__(self, target: int, exponent: int, base: int, modulus: int):
        self._target, self._exponent, self.base, self.modulus = target, exponent, base, modulus

    def registers(self):
        return [2] * self._target, [2] * self._exponent, self.base, self.modulus

    def with_registers(self, *registers):
        return ModularMultiply(len(registers[0]), len(registers[1]), registers[2], registers[3])

    def apply(self, target, exponent, base, modulus):
        return (target * pow(base, exponent, modulus)) % modulus if target < modulus else target

    def _circuit_diagram_info_(self, args):
        names = ["y"] * self._target + ["x"] * self._exponent
        names[0] = f"(y*{self.base}^x mod {self.modulus})"
        return cirq.CircuitDiagramInfo(wire_symbols=tuple(names))


def order_circuit(base: int, modulus: int) -> tuple[cirq.Circuit, list[cirq.Qid]]:
    width = modulus.bit_length()
    target = cirq.LineQubit.range(width)
    exponent = cirq.LineQubit.range(width, 3 * width)
    circuit = cirq.Circuit(cirq.X(target[-1]), cirq.H.on_each(*exponent),
                           ModularMultiply(width, 2 * width, base, modulus).on(*target, *exponent),
                           cirq.qft(*exponent, inverse=True), cirq.measure(*exponent, key="x"))
    return circuit, exponent


def shor(number: int = 15, shots: int = 16, seed: int | None = 0) -> dict:
    """Factor ``number`` (an odd composite, not a prime power, up to 35) by quantum order finding."""
    _check(isinstance(number, int) and 9 <= number <= 35 and number % 2 == 1,
           f"number must be an odd composite from 9 to 35, got {number}")
    _check(not _prime_power(number), f"{number} is a prime or a prime power: order finding cannot split it")
    rng = np.random.default_rng(seed)
    tried = []
    for base in rng.permutation(np.arange(2, number)):
        base = int(base)
        if math.gcd(base, number) != 1:
            continue
        circuit, exponent = order_circuit(base, number)
        result = _simulator(int(rng.integers(2**31))).run(circuit, repetitions=shots)
        bits = len(exponent)
        orders = set()
        for x in result.data["x"]:
            r = Fraction(int(x), 2 ** bits).limit_denominator(number).denominator
            if pow(base, r, number) == 1:
                orders.add(r)
        order = min(orders) if orders else None
        tried.append({"base": base, "order": order})
        if order and order % 2 == 0 and pow(base, order // 2, number) != number - 1:
            factor = math.gcd(pow(base, order // 2) - 1, number)
            if 1 < factor < number:
                return _common("shor", circuit, number=number, factors=sorted([factor, number // factor]),
                               base=base, order=order, attempts=tried,
                               counts=_counts(result, "x", bits))
    raise InputError(f"no factor of {number} found after trying bases {[t['base'] for t in tried]}",
                     hint="run again with another seed")


def _prime_power(n: int) -> bool:
    for p in range(2, n + 1):
        if n % p == 0:
            while n % p == 0:
                n //= p
            return n == 1
    return False


def bernstein_vazirani(secret: str = "1011", seed: int | None = None) -> dict:
    """Recover the hidden bitstring ``secret`` of f(x) = secret . x (mod 2) with one query."""
    _check(bool(secret) and set(secret) <= {"0", "1"} and len(secret) <= 20, f"secret must be 1-20 bits, got {secret!r}")
    q = cirq.LineQubit.range(len(secret))
    ancilla = cirq.LineQubit(len(secret))
    circuit = cirq.Circuit(cirq.X(ancilla), cirq.H.on_each(*q, ancilla),
                           [cirq.CNOT(q[i], ancilla) for i, bit in enumerate(secret) if bit == "1"],
                           cirq.H.on_each(*q), cirq.measure(*q, key="s"))
    counts = _counts(_simulator(seed).run(circuit, repetitions=1), "s", len(secret))
    return _common("bernstein_vazirani", circuit, secret=secret, found=list(counts)[0], counts=counts)


def deutsch_jozsa(qubits: int = 3, oracle: str = "balanced", mask: int | None = None, seed: int | None = None) -> dict:
    """Decide with one query whether f is constant or balanced (balanced: f(x) = parity(x & mask))."""
    _check(1 <= qubits <= 20, f"qubits must be 1 to 20, got {qubits}")
    _check(oracle in ("constant0", "constant1", "balanced"), f"oracle must be constant0, constant1 or balanced, got {oracle!r}")
    mask = (2 ** qubits - 1) if mask is None else int(mask)
    _check(oracle != "balanced" or 0 < mask < 2 ** qubits, f"mask must be 1 to {2 ** qubits - 1}, got {mask}")
    q = cirq.LineQubit.range(qubits)
    out = cirq.LineQubit(qubits)
    if oracle == "balanced":
        body = [cirq.CNOT(q[i], out) for i in range(qubits) if (mask >> (qubits - 1 - i)) & 1]
    else:
        body = [cirq.X(out)] if oracle == "constant1" else []
    circuit = cirq.Circuit(cirq.X(out), cirq.H.on_each(*q, out), body, cirq.H.on_each(*q), cirq.measure(*q, key="x"))
    counts = _counts(_simulator(seed).run(circuit, repetitions=1), "x", qubits)
    verdict = "constant" if list(counts)[0] == "0" * qubits else "balanced"
    return _common("deutsch_jozsa", circuit, oracle=oracle, verdict=verdict, counts=counts)


def teleportation(theta: float = 1.1, phi: float = 0.7, seed: int | None = None) -> dict:
    """Teleport ry(theta) rz(phi)|0> from qubit 0 to qubit 2 (corrections as controlled gates:
    the deferred-measurement form), and compare Bloch vectors."""
    msg, alice, bob = cirq.LineQubit.range(3)
    prepare = [cirq.ry(theta)(msg), cirq.rz(phi)(msg)]
    circuit = cirq.Circuit(prepare, cirq.H(alice), cirq.CNOT(alice, bob), cirq.CNOT(msg, alice), cirq.H(msg),
                           cirq.CNOT(alice, bob), cirq.CZ(msg, bob))
    sim = _simulator(seed, np.complex128)
    paulis = (cirq.X, cirq.Y, cirq.Z)
    received = sim.simulate_expectation_values(circuit, [p(bob) for p in paulis])
    sent = sim.simulate_expectation_values(cirq.Circuit(prepare), [p(msg) for p in paulis])
    return _common("teleportation", circuit, sent_bloch=[round(float(np.real(v)), 6) for v in sent],
                   received_bloch=[round(float(np.real(v)), 6) for v in received],
                   fidelity=float((1 + np.real(np.dot(sent, received))) / 2))


def vqe_h2(bond_length: float = 0.74, seed: int | None = 0) -> dict:
    """VQE for H2 at ``bond_length`` angstroms (STO-3G, parity mapping reduced to 2 qubits): the
    energy an ansatz reaches against exact diagonalization of the same Hamiltonian."""
    from scipy.optimize import minimize

    from . import h2

    try:
        hamiltonian = h2.qubit_hamiltonian(bond_length, mapping="parity")
    except ValueError as exc:
        raise InputError(str(exc), hint="the equilibrium is 0.74; try 0.3 to 3.0 for a dissociation curve") from None
    q = cirq.LineQubit.range(2)
    exact = float(np.linalg.eigvalsh(hamiltonian.matrix(q))[0])
    import sympy

    a, b, c, d = sympy.symbols("a b c d")
    ansatz = cirq.Circuit(cirq.ry(a)(q[0]), cirq.ry(b)(q[1]), cirq.CNOT(*q), cirq.ry(c)(q[0]), cirq.ry(d)(q[1]))
    sim = _simulator(seed, np.complex128)

    def energy(x):
        resolver = dict(zip("abcd", x))
        return float(np.real(sim.simulate_expectation_values(ansatz, hamiltonian, resolver)[0]))

    start = np.random.default_rng(seed).uniform(-0.5, 0.5, 4)
    best = minimize(energy, start, method="BFGS", options={"gtol": 1e-8})
    integrals = h2.h2_integrals(bond_length / h2.BOHR_IN_ANGSTROM)
    return _common("vqe_h2", ansatz, hamiltonian=str(hamiltonian), bond_length_angstrom=float(bond_length),
                   hartree_fock_energy=integrals.hartree_fock_energy,
                   nuclear_repulsion=integrals.nuclear_repulsion, energy=float(best.fun), exact_energy=exact, error=float(best.fun - exact),
                   within_chemical_accuracy=bool(abs(best.fun - exact) < CHEMICAL_ACCURACY),
                   parameters=[float(v) for v in best.x], evaluations=int(best.nfev))


def qaoa_maxcut(edges: list[list[int]] | None = None, layers: int = 2, shots: int = 2000,
                seed: int | None = 0) -> dict:
    """QAOA for MaxCut: optimized angles, the best sampled cut and the approximation ratio
    (expected cut over the maximum cut, found by brute force)."""
    from scipy.optimize import minimize

    edges = [[0, 1], [1, 2], [2, 3], [3, 0], [0, 2]] if edges is None else edges
    _check(all(isinstance(e, (list, tuple)) and len(e) == 2 and e[0] != e[1] for e in edges) and edges,
           "edges must be pairs of distinct node numbers, e.g. [[0, 1], [1, 2]]")
    nodes = 1 + max(max(int(u), int(v)) for u, v in edges)
    _check(nodes <= 16 and 1 <= layers <= 5, f"at most 16 nodes and 1-5 layers, got {nodes} nodes and {layers} layers")
    q = cirq.LineQubit.range(nodes)
    cost = cirq.PauliSum()
    for u, v in edges:
        cost += 0.5 * cirq.PauliString() - 0.5 * cirq.Z(q[u]) * cirq.Z(q[v])
    import sympy

    gammas = sympy.symbols(f"g0:{layers}")
    betas = sympy.symbols(f"b0:{layers}")
    circuit = cirq.Circuit(cirq.H.on_each(*q))
    for g, b in zip(gammas, betas):
        circuit += [cirq.ZZPowGate(exponent=g).on(q[u], q[v]) for u, v in edges]
        circuit += [cirq.rx(2 * b)(x) for x in q]
    sim = _simulator(seed, np.complex128)
    names = [str(s) for s in gammas + betas]

    def expected_cut(x):
        return float(np.real(sim.simulate_expectation_values(circuit, cost, dict(zip(names, x)))[0]))

    rng = np.random.default_rng(seed)
    best = max((minimize(lambda x: -expected_cut(x), rng.uniform(0, 1, 2 * layers), method="COBYLA",
                         options={"maxiter": 300}) for _ in range(3)), key=lambda r: -r.fun)
    resolved = cirq.resolve_parameters(circuit, dict(zip(names, best.x)))
    counts = _counts(sim.run(resolved + cirq.measure(*q, key="cut"), repetitions=shots), "cut", nodes)

    def cut_of(bits: str) -> int:
        return sum(bits[u] != bits[v] for u, v in edges)

    maximum = max(cut_of(_bits(i, nodes)) for i in range(2 ** nodes))
    best_sample = max(counts, key=cut_of)
    return _common("qaoa_maxcut", resolved, edges=edges, layers=layers, expected_cut=-float(best.fun),
                   max_cut=maximum, approximation_ratio=-float(best.fun) / maximum,
                   best_sampled_cut=best_sample, best_sampled_value=cut_of(best_sample),
                   counts=dict(list(counts.items())[:16]), most_likely=list(counts)[:4])


ALGORITHMS = {
    "grover": (grover, "Grover search for marked items (qubits, marked, shots)"),
    "qft": (qft, "Quantum Fourier transform of a basis state, checked against the FFT (qubits, value)"),
    "shor": (shor, "Shor's factoring through order finding (number: 15, 21, 35, ...)"),
    "bernstein_vazirani": (bernstein_vazirani, "Recover a hidden bitstring with one query (secret)"),
    "deutsch_jozsa": (deutsch_jozsa, "Constant or balanced with one query (qubits, oracle, mask)"),
    "teleportation": (teleportation, "Teleport a one-qubit state (theta, phi)"),
    "vqe": (vqe_h2, "VQE ground energy of H2 against exact diagonalization (bond_length in angstroms)"),
    "qaoa": (qaoa_maxcut, "QAOA for MaxCut on a graph, with the approximation ratio (edges, layers, shots)"),
}
