"""One- and two-electron integrals over contracted s-type Gaussians (STO-3G hydrogen).

The closed forms for primitive s Gaussians are those of Szabo & Ostlund, *Modern Quantum
Chemistry*, appendix A; a contracted function is a fixed sum of normalized primitives, so each
contracted integral is the coefficient-weighted sum over primitive pairs (or quadruples).
Everything is in atomic units (bohr, hartree).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import hyp1f1

# STO-3G for hydrogen (Hehre, Stewart & Pople 1969; zeta = 1.24, as in the Basis Set Exchange).
STO3G_H_EXPONENTS = (3.42525091, 0.62391373, 0.16885540)
STO3G_H_COEFFICIENTS = (0.15432897, 0.53532814, 0.44463454)


@dataclass(frozen=True)
class SGaussian:
    """A contracted s function: sum_k c_k N(a_k) exp(-a_k |r - centre|^2)."""

    centre: np.ndarray
    exponents: tuple[float, ...] = STO3G_H_EXPONENTS
    coefficients: tuple[float, ...] = STO3G_H_COEFFICIENTS

    def primitives(self):
        return ((a, c * (2 * a / np.pi) ** 0.75) for a, c in zip(self.exponents, self.coefficients))


def boys0(t: float) -> float:
    """F0(t) = integral_0^1 exp(-t u^2) du = 1F1(1/2; 3/2; -t); unlike the erf form, exact at t = 0."""
    return float(hyp1f1(0.5, 1.5, -t))


def _gaussian_product(a, A, b, B):
    """The product of two s Gaussians is a Gaussian of exponent p at P, scaled by K."""
    p = a + b
    P = (a * A + b * B) / p
    K = np.exp(-a * b / p * np.dot(A - B, A - B))
    return p, P, K


def _overlap(a, A, b, B):
    p, _, K = _gaussian_product(a, A, b, B)
    return (np.pi / p) ** 1.5 * K


def _kinetic(a, A, b, B):
    p, _, K = _gaussian_product(a, A, b, B)
    mu_r2 = a * b / p * np.dot(A - B, A - B)
    return a * b / p * (3 - 2 * mu_r2) * (np.pi / p) ** 1.5 * K


def _nuclear(a, A, b, B, C, charge):
    p, P, K = _gaussian_product(a, A, b, B)
    return -2 * np.pi / p * charge * K * boys0(p * np.dot(P - C, P - C))


def _repulsion(a, A, b, B, c, C, d, D):
    """(ab|cd) in chemists' notation: electron 1 in a*b, electron 2 in c*d."""
    p, P, K1 = _gaussian_product(a, A, b, B)
    q, Q, K2 = _gaussian_product(c, C, d, D)
    return (2 * np.pi ** 2.5 / (p * q * np.sqrt(p + q)) * K1 * K2
            * boys0(p * q / (p + q) * np.dot(P - Q, P - Q)))


def _contract(function, *basis):
    """Sum a primitive integral over every combination of the functions' primitives."""
    if not basis:
        return function()
    first, rest = basis[0], basis[1:]
    return sum(c * _contract(lambda *x, a=a: function(a, first.centre, *x), *rest)
               for a, c in first.primitives())


def one_electron(basis: list[SGaussian], nuclei: list[tuple[np.ndarray, float]]):
    """Overlap S, kinetic T and nuclear attraction V (summed over the nuclei) matrices."""
    n = len(basis)
    S, T, V = (np.zeros((n, n)) for _ in range(3))
    for i, f in enumerate(basis):
        for j, g in enumerate(basis):
            S[i, j] = _contract(_overlap, f, g)
            T[i, j] = _contract(_kinetic, f, g)
            V[i, j] = sum(_contract(lambda a, A, b, B, C=C, Z=Z: _nuclear(a, A, b, B, C, Z), f, g)
                          for C, Z in nuclei)
    return S, T, V


def two_electron(basis: list[SGaussian]) -> np.ndarray:
    """The electron-repulsion tensor (ij|kl), chemists' notation, with its 8-fold symmetry filled in."""
    n = len(basis)
    eri = np.zeros((n, n, n, n))
    for i in range(n):
        for j in range(i + 1):
            for k in range(n):
                for l in range(k + 1):  # noqa: E741 - the chemists' ijkl
                    if (i * (i + 1) // 2 + j) < (k * (k + 1) // 2 + l):
                        continue
                    value = _contract(_repulsion, basis[i], basis[j], basis[k], basis[l])
                    for a, b, c, d in ((i, j, k, l), (j, i, k, l), (i, j, l, k), (j, i, l, k)):
                        eri[a, b, c, d] = eri[c, d, a, b] = value
    return eri
