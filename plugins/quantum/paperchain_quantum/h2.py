"""The H2 molecule's qubit Hamiltonian at any bond length, computed from first principles.

STO-3G integrals (``integrals``) -> restricted Hartree-Fock molecular orbitals -> the
second-quantized Hamiltonian over 4 spin orbitals -> a Pauli sum by the Jordan-Wigner (4 qubits)
or parity mapping; the parity form drops two qubits whose values the electron count fixes
(Bravyi et al., arXiv:1701.08213), leaving 2 qubits. Energies are in hartree and include the
nuclear repulsion, so the lowest eigenvalue is the molecule's total ground energy in this basis.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cirq
import numpy as np
from scipy.constants import physical_constants

from .integrals import SGaussian, one_electron, two_electron

BOHR_IN_ANGSTROM = physical_constants["Bohr radius"][0] * 1e10
MAPPINGS = ("parity", "jordan_wigner")


@dataclass(frozen=True)
class H2Integrals:
    """Integrals at one bond length: atomic orbitals (S, T, V, eri) and molecular orbitals."""

    bond_length_bohr: float
    overlap: np.ndarray
    kinetic: np.ndarray
    nuclear_attraction: np.ndarray
    eri: np.ndarray  # (ij|kl) over atomic orbitals
    mo_coefficients: np.ndarray  # columns: sigma_g (occupied), sigma_u
    core_mo: np.ndarray  # h = T + V over molecular orbitals
    eri_mo: np.ndarray  # (ij|kl) over molecular orbitals
    nuclear_repulsion: float
    hartree_fock_energy: float


@functools.lru_cache(maxsize=64)
def h2_integrals(bond_length_bohr: float) -> H2Integrals:
    centres = [np.zeros(3), np.array([0.0, 0.0, bond_length_bohr])]
    basis = [SGaussian(c) for c in centres]
    S, T, V = one_electron(basis, [(c, 1.0) for c in centres])
    eri = two_electron(basis)
    # RHF for two identical atoms with one function each: symmetry alone fixes the molecular
    # orbitals (bonding sigma_g and antibonding sigma_u, normalized over S); they belong to
    # different irreducible representations, so the Fock matrix is diagonal in them and the
    # self-consistent field converges at the first step (tests check that).
    s12 = S[0, 1]
    C = np.array([[1, 1], [1, -1]]) / np.sqrt([2 * (1 + s12), 2 * (1 - s12)])
    core_mo = C.T @ (T + V) @ C
    eri_mo = np.einsum("pi,qj,rk,sl,pqrs->ijkl", C, C, C, C, eri)
    nuclear = 1.0 / bond_length_bohr
    hf = 2 * core_mo[0, 0] + eri_mo[0, 0, 0, 0] + nuclear
    return H2Integrals(bond_length_bohr, S, T, V, eri, C, core_mo, eri_mo, nuclear, float(hf))


def _annihilator(j: int, qubits, mapping: str) -> cirq.PauliSum:
    """a_j as a Pauli sum. Jordan-Wigner: qubit k holds n_k, so a_j = Z_0..Z_{j-1} (X_j + iY_j)/2.
    Parity: qubit k holds n_0 + ... + n_k (mod 2), so a_j = (Z_{j-1} X_j + i Y_j)/2 X_{j+1}..X_{n-1}
    (Seeley, Richard & Love, J. Chem. Phys. 137, 224109 (2012))."""
    if mapping == "jordan_wigner":
        string = cirq.PauliString({qubits[k]: cirq.Z for k in range(j)})
        return 0.5 * (string * cirq.X(qubits[j])) + 0.5j * (string * cirq.Y(qubits[j]))
    update = cirq.PauliString({qubits[k]: cirq.X for k in range(j + 1, len(qubits))})
    below = cirq.PauliString({qubits[j - 1]: cirq.Z}) if j > 0 else cirq.PauliString()
    return 0.5 * (update * below * cirq.X(qubits[j])) + 0.5j * (update * cirq.Y(qubits[j]))


def _adjoint(operator: cirq.PauliSum) -> cirq.PauliSum:
    return sum((np.conj(p.coefficient) * p.with_coefficient(1) for p in operator), cirq.PauliSum())


def _real(operator: cirq.PauliSum, drop: float = 1e-12) -> cirq.PauliSum:
    """The Hamiltonian is Hermitian, so its Pauli coefficients are real; drop rounding residue."""
    kept = cirq.PauliSum()
    for term in operator:
        if abs(term.coefficient.imag) > 1e-9:
            raise ArithmeticError(f"non-Hermitian term {term}: the mapping is broken")
        if abs(term.coefficient) > drop:
            kept += term.with_coefficient(float(term.coefficient.real))
    return kept


def spin_orbital_hamiltonian(integrals: H2Integrals, mapping: str = "jordan_wigner") -> cirq.PauliSum:
    """H = E_nuc + sum h_pq a+_p a_q + 1/2 sum <pq|rs> a+_p a+_q a_s a_r on 4 qubits.

    Spin orbitals in blocks: 0 = sigma_g up, 1 = sigma_u up, 2 = sigma_g down, 3 = sigma_u down
    (the order the parity reduction needs: qubit 1 then holds the up electrons' parity)."""
    if mapping not in MAPPINGS:
        raise ValueError(f"mapping must be one of {', '.join(MAPPINGS)}, got {mapping!r}")
    qubits = cirq.LineQubit.range(4)
    lower = [_annihilator(j, qubits, mapping) for j in range(4)]
    raise_ = [_adjoint(a) for a in lower]
    spatial, spin = (lambda p: p % 2), (lambda p: p // 2)
    total = cirq.PauliSum() + integrals.nuclear_repulsion
    for p in range(4):
        for q in range(4):
            if spin(p) == spin(q):
                total += integrals.core_mo[spatial(p), spatial(q)] * raise_[p] * lower[q]
    for p in range(4):
        for q in range(4):
            for r in range(4):
                for s in range(4):
                    # <pq|rs> = (pr|qs): electron 1 goes p -> r, electron 2 q -> s, spin kept.
                    if p == q or r == s or spin(p) != spin(r) or spin(q) != spin(s):
                        continue
                    value = integrals.eri_mo[spatial(p), spatial(r), spatial(q), spatial(s)]
                    total += 0.5 * value * raise_[p] * raise_[q] * lower[s] * lower[r]
    return _real(total)


def _taper(hamiltonian: cirq.PauliSum) -> cirq.PauliSum:
    """Parity form -> 2 qubits: qubit 1 holds the up electrons' parity (one: Z = -1) and qubit 3
    the total parity (two electrons: Z = +1); H conserves both, so they carry only I or Z."""
    old = cirq.LineQubit.range(4)
    fixed = {old[1]: -1.0, old[3]: +1.0}
    new = dict(zip((old[0], old[2]), cirq.LineQubit.range(2)))
    reduced = cirq.PauliSum()
    for term in hamiltonian:
        sign, kept = 1.0, {}
        for qubit, pauli in term.items():
            if qubit in fixed:
                if pauli != cirq.Z:
                    raise ArithmeticError(f"{term} does not conserve the electron parities")
                sign *= fixed[qubit]
            else:
                kept[new[qubit]] = pauli
        reduced += cirq.PauliString(kept, coefficient=sign * term.coefficient)
    return _real(reduced)


def check_bond_length(bond_length: float) -> float:
    if isinstance(bond_length, bool) or not isinstance(bond_length, (int, float)) or not 0.2 <= bond_length <= 5.0:
        raise ValueError(f"bond_length must be a number of angstroms from 0.2 to 5.0, got {bond_length!r}")
    return float(bond_length)


def qubit_hamiltonian(bond_length: float = 0.74, mapping: str = "parity") -> cirq.PauliSum:
    """H2's Hamiltonian at ``bond_length`` angstroms: 2 qubits (``parity``, reduced) or 4
    (``jordan_wigner``), on ``cirq.LineQubit``s numbered from 0."""
    integrals = h2_integrals(check_bond_length(bond_length) / BOHR_IN_ANGSTROM)
    hamiltonian = spin_orbital_hamiltonian(integrals, mapping)
    return _taper(hamiltonian) if mapping == "parity" else hamiltonian
