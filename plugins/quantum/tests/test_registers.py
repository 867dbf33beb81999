"""An OpenQASM register's bits are counted together, in OpenQASM's order."""

from paperchain_quantum.circuits import load
from paperchain_quantum.service import run_circuit

GHZ = """OPENQASM 2.0;
include "qelib1.inc";
qreg q[3];
creg c[3];
h q[0];
cx q[0],q[1];
cx q[1],q[2];
measure q -> c;
"""

ONE = """OPENQASM 2.0;
include "qelib1.inc";
qreg q[2];
creg c[2];
x q[0];
measure q -> c;
"""


def test_a_ghz_register_shows_its_correlation():
    result = run_circuit(load(GHZ), shots=300, seed=7)
    assert set(result["counts"]) == {"c"}
    assert set(result["counts"]["c"]) == {"000", "111"} and sum(result["counts"]["c"].values()) == 300


def test_bit_zero_is_printed_last_as_openqasm_does():
    assert run_circuit(load(ONE), shots=20, seed=1)["counts"] == {"c": {"01": 20}}
