"""Done when: every algorithm runs as a workflow step, with a JSON result and a histogram artifact."""

from __future__ import annotations

import pytest

from paperchain_quantum import hooks

GHZ = 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\ncreg c[2];\nh q[0];\ncx q[0],q[1];\nmeasure q -> c;\n'


@pytest.mark.slow  # nine steps, VQE and QAOA optimizations included: about 5 s
def test_circuit_and_algorithms_as_workflow_steps(paperchain_kernel, tmp_path):
    circuit = tmp_path / "bell.qasm"
    circuit.write_text(GHZ)
    workflow = {"name": "quantum", "steps": [
        {"id": "bell", "uses": "quantum.run", "with": {"circuit": str(circuit), "shots": 100, "seed": 1}},
        {"id": "grover", "uses": "quantum.grover", "with": {"params": {"qubits": 3, "marked": [6], "seed": 1}}},
        {"id": "shor", "uses": "quantum.shor", "with": {"params": {"number": 15}}},
        {"id": "qft", "uses": "quantum.qft", "with": {"params": {"qubits": 3, "value": 2}}},
        {"id": "bv", "uses": "quantum.bernstein_vazirani", "with": {"params": {"secret": "101"}}},
        {"id": "dj", "uses": "quantum.deutsch_jozsa", "with": {"params": {"oracle": "constant0"}}},
        {"id": "teleport", "uses": "quantum.teleportation"},
        {"id": "vqe", "uses": "quantum.vqe"},
        {"id": "qaoa", "uses": "quantum.qaoa", "with": {"params": {"edges": [[0, 1], [1, 2]], "layers": 1}}},
    ]}
    harness = paperchain_kernel(hooks)
    outcome = harness.run(workflow, inputs={})
    run = outcome.runs[0]
    assert outcome.status == "succeeded", run.error
    steps = run.steps
    assert set(steps["bell"].outputs["counts"]["c"]) == {"00", "11"}
    assert steps["grover"].outputs["most_likely"] == ["110"]
    assert steps["shor"].outputs["factors"] == [3, 5]
    assert steps["qft"].outputs["max_error_vs_fft"] < 1e-9
    assert steps["bv"].outputs["found"] == "101"
    assert steps["dj"].outputs["verdict"] == "constant"
    assert steps["teleport"].outputs["fidelity"] > 0.999999
    assert steps["vqe"].outputs["within_chemical_accuracy"] is True
    assert steps["qaoa"].outputs["approximation_ratio"] > 0.7
    pngs = {a.name for a in run.artifacts if a.media_type == "image/png"}
    assert {"run-histogram.png", "grover-histogram.png", "shor-histogram.png", "qaoa-histogram.png"} <= pngs
