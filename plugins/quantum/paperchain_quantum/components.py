"""Workflow steps: ``quantum.run`` and one step per algorithm; each returns JSON and a histogram PNG."""

from __future__ import annotations

import asyncio

from paperchain_sdk import Artifact, Result
from paperchain_sdk.contracts import Action


def _result(name: str, outputs: dict, counts: dict | None) -> Result:
    from .results import histogram_png

    artifacts = ()
    if counts:
        artifacts = (Artifact(name=f"{name}-histogram.png", media_type="image/png",
                              data=histogram_png(counts, title=name)),)
    return Result(outputs=outputs, artifacts=artifacts)


class RunCircuit(Action):
    """Simulate a circuit file and sample its measurements."""

    async def run(self, ctx, inputs) -> Result:
        from . import circuits, service

        def work():
            circuit = circuits.load_file(inputs.circuit, inputs.format)
            return service.run_circuit(circuit, shots=inputs.shots, backend=inputs.backend,
                                       max_qubits=inputs.max_qubits, seed=inputs.seed, max_gates=inputs.max_gates,
                                       time_limit=inputs.time_limit_s)

        outputs = await asyncio.to_thread(work)
        first = next(iter(outputs["counts"].values()), None)
        return _result("run", outputs, first)


class RunAlgorithm(Action):
    """One of the ready algorithms, named by the step (``quantum.grover`` runs grover)."""

    algorithm = ""

    async def run(self, ctx, inputs) -> Result:
        from . import service

        outputs = await asyncio.to_thread(service.run_algorithm, self.algorithm, dict(inputs.params))
        return _result(self.algorithm, outputs, outputs.get("counts"))


def _algorithm_step(name: str) -> type:
    return type(f"Run_{name}", (RunAlgorithm,), {"algorithm": name, "__doc__": f"The {name} algorithm."})


Grover = _algorithm_step("grover")
Qft = _algorithm_step("qft")
Shor = _algorithm_step("shor")
BernsteinVazirani = _algorithm_step("bernstein_vazirani")
DeutschJozsa = _algorithm_step("deutsch_jozsa")
Teleportation = _algorithm_step("teleportation")
Vqe = _algorithm_step("vqe")
Qaoa = _algorithm_step("qaoa")
