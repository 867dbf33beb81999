"""The algorithms' answers."""

from __future__ import annotations

import pytest

from paperchain_quantum import algorithms
from paperchain_sdk import InputError


def test_grover_finds_the_marked_item():
    result = algorithms.grover(qubits=5, marked=[19], seed=1)
    assert result["success_probability"] > 0.9
    assert result["most_likely"] == ["10011"]


@pytest.mark.parametrize("number, factors", [(15, [3, 5]), (21, [3, 7]), (35, [5, 7])])
def test_shor_returns_the_factors(number, factors):
    assert algorithms.shor(number, seed=0)["factors"] == factors


def test_shor_refuses_primes_and_even_numbers():
    with pytest.raises(InputError, match="prime"):
        algorithms.shor(25 + 2)  # 27 = 3^3
    with pytest.raises(InputError, match="odd composite"):
        algorithms.shor(16)


def test_vqe_reaches_chemical_accuracy():
    result = algorithms.vqe_h2(seed=0)
    assert result["bond_length_angstrom"] == 0.74
    assert abs(result["energy"] - result["exact_energy"]) < algorithms.CHEMICAL_ACCURACY
    assert result["exact_energy"] == pytest.approx(-1.13728, abs=1e-5)  # FCI/STO-3G at 0.74 A


def test_qft_matches_the_fft():
    assert algorithms.qft(qubits=5, value=9)["max_error_vs_fft"] < 1e-9


def test_bernstein_vazirani_and_deutsch_jozsa():
    assert algorithms.bernstein_vazirani("110101")["found"] == "110101"
    assert algorithms.deutsch_jozsa(4, "balanced", mask=0b0110)["verdict"] == "balanced"
    assert algorithms.deutsch_jozsa(4, "constant1")["verdict"] == "constant"


def test_teleportation_delivers_the_state():
    assert algorithms.teleportation(theta=2.0, phi=-0.4)["fidelity"] > 0.999999


@pytest.mark.slow
def test_qaoa_maxcut_approximation_ratio():
    result = algorithms.qaoa_maxcut([[0, 1], [1, 2], [2, 3], [3, 0]], layers=2, seed=0)
    assert result["approximation_ratio"] > 0.8
    assert result["best_sampled_value"] == result["max_cut"] == 4
