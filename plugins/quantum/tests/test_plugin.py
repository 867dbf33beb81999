"""The plugin as the kernel and users see it: specs, laziness, steps, circuit input, CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from paperchain_quantum import circuits, hooks
from paperchain_quantum.cli import quantum
from paperchain_sdk import InputError
from paperchain_sdk.testing import check_spec, run_component

GHZ = 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[3];\ncreg c[3];\nh q[0];\ncx q[0],q[1];\ncx q[1],q[2];\nmeasure q -> c;\n'


@pytest.fixture
def specs():
    return {s.name: s for s in hooks.paperchain_actions()}


def test_offers_run_and_every_algorithm_as_steps(specs):
    assert {"quantum.run", "quantum.grover", "quantum.shor", "quantum.vqe", "quantum.qaoa"} <= set(specs)
    for spec in specs.values():
        check_spec(spec)


def test_hook_module_imports_nothing_heavy():
    code = ("import json, sys, paperchain_quantum.hooks as h\nh.paperchain_actions(); h.paperchain_commands()\n"
            "print(json.dumps([m for m in ('cirq', 'numba', 'numpy', 'scipy', 'PIL', 'click') if m in sys.modules]))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == []


def test_run_step_gives_counts_and_a_histogram(specs, tmp_path):
    path = tmp_path / "ghz.qasm"
    path.write_text(GHZ)
    result = run_component(specs["quantum.run"], options={"circuit": str(path), "shots": 300, "seed": 2})
    counts = result.outputs["counts"]
    assert set(counts) == {"c"} and set(counts["c"]) == {"000", "111"} and sum(counts["c"].values()) == 300
    assert result.artifacts[0].media_type == "image/png" and result.artifacts[0].data.startswith(b"\x89PNG")


def test_shor_step(specs):
    result = run_component(specs["quantum.shor"], options={"params": {"number": 21}})
    assert result.outputs["factors"] == [3, 7]


def test_algorithm_step_names_an_unknown_parameter(specs):
    with pytest.raises(InputError, match="no parameter colour"):
        run_component(specs["quantum.grover"], options={"params": {"colour": 1}})


def test_gate_list_and_cirq_json_and_their_errors():
    import cirq

    circuit = circuits.load(json.dumps({"qubits": 2, "gates": [{"gate": "h", "targets": [0]},
                                                               {"gate": "rx", "targets": [1], "params": [0.5]},
                                                               {"gate": "cx", "targets": [0, 1]}]}))
    assert len(list(circuit.all_operations())) == 3
    assert circuits.load(cirq.to_json(circuit)) == circuit
    with pytest.raises(InputError, match=r"gates\[1\] \(rx\): params"):
        circuits.load('{"qubits": 2, "gates": [{"gate": "h", "targets": [0]}, {"gate": "rx", "targets": [1]}]}')
    with pytest.raises(InputError, match=r"gates\[0\]: unknown gate 'foo'"):
        circuits.load('{"qubits": 1, "gates": [{"gate": "foo", "targets": [0]}]}')
    with pytest.raises(InputError, match="line 4"):
        circuits.load('OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\nfoo q[0];\n')


def test_cli_run_state_and_algorithms(tmp_path):
    path = tmp_path / "ghz.qasm"
    path.write_text(GHZ)
    runner = CliRunner()
    out = runner.invoke(quantum, ["run", str(path), "--shots", "200", "--json", "--seed", "1"])
    assert out.exit_code == 0, out.output
    assert set(json.loads(out.output)["counts"]["c"]) == {"000", "111"}
    out = runner.invoke(quantum, ["state", str(path).replace("ghz", "ghz"), "--json"])
    assert out.exit_code == 0
    out = runner.invoke(quantum, ["algorithms"])
    assert "shor" in out.output and "vqe" in out.output
    out = runner.invoke(quantum, ["algorithms", "bernstein_vazirani", "--param", "secret=\"101\""])
    assert json.loads(out.output)["found"] == "101"
    bad = tmp_path / "bad.json"
    bad.write_text('{"qubits": 2, "gates": [{"gate": "cx", "targets": [0]}]}')
    out = runner.invoke(quantum, ["run", str(bad)])
    assert out.exit_code == 1 and "gates[0] (cx): takes 2 target(s)" in out.output


def test_cirq_backend_takes_the_density_matrix_simulator_for_noise(monkeypatch):
    import cirq

    from paperchain_quantum import service

    used = []
    real = cirq.DensityMatrixSimulator.run
    monkeypatch.setattr(cirq.DensityMatrixSimulator, "run", lambda self, *a, **k: used.append(1) or real(self, *a, **k))
    q = cirq.LineQubit(0)
    noisy = cirq.Circuit(cirq.X(q), cirq.amplitude_damp(1.0).on(q), cirq.measure(q, key="m"))
    assert service.run_circuit(noisy, shots=50, backend="cirq")["counts"]["m"] == {"0": 50}
    assert used == [1]
    service.run_circuit(cirq.Circuit(cirq.X(q), cirq.measure(q, key="m")), shots=5, backend="cirq")
    assert used == [1]
