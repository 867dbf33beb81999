"""Hook implementations (the plugin's entry point): light, every implementation named by import string,
so cirq and numba load only when a quantum step or command runs."""

from __future__ import annotations

from paperchain_sdk import ActionSpec, CommandSpec, hookimpl

from .settings import AlgorithmSettings, RunSettings

ALGORITHM_STEPS = {
    "grover": ("Grover", "Grover search for marked items"),
    "qft": ("Qft", "Quantum Fourier transform of a basis state"),
    "shor": ("Shor", "Factor a small number by quantum order finding"),
    "bernstein_vazirani": ("BernsteinVazirani", "Recover a hidden bitstring with one query"),
    "deutsch_jozsa": ("DeutschJozsa", "Constant or balanced with one query"),
    "teleportation": ("Teleportation", "Teleport a one-qubit state"),
    "vqe": ("Vqe", "VQE ground-state energy of H2"),
    "qaoa": ("Qaoa", "QAOA for MaxCut with the approximation ratio"),
}


@hookimpl
def paperchain_actions():
    specs = [ActionSpec(name="quantum.run", impl="paperchain_quantum.components:RunCircuit",
                        summary="Simulate a circuit file and sample it (JSON counts and a histogram PNG)",
                        settings=RunSettings, cpu_bound=True)]
    for name, (cls, summary) in ALGORITHM_STEPS.items():
        specs.append(ActionSpec(name=f"quantum.{name}", impl=f"paperchain_quantum.components:{cls}",
                                summary=summary, settings=AlgorithmSettings, cpu_bound=True))
    return specs


@hookimpl
def paperchain_commands():
    return [CommandSpec(name="quantum", impl="paperchain_quantum.cli:quantum",
                        summary="Quantum circuits and algorithms on the fused simulator")]


@hookimpl
def paperchain_startup(kernel):
    async def start():
        from .jobs import JobStore, install

        settings = _run_settings(kernel)
        store = JobStore(kernel, max_qubits=settings.job_max_qubits, max_shots=settings.job_max_shots,
                         max_gates=settings.max_gates, time_limit=settings.time_limit_s)
        install(kernel, await store.open())

    return start()


@hookimpl
def paperchain_shutdown(kernel):
    from . import jobs

    store = kernel.plugin_state("quantum").get("jobs")
    if store is not None:
        store.close()
        jobs.install(kernel, None)


@hookimpl
def paperchain_routes(kernel):
    # module-level handlers; they find the kernel with kernel_of(request)
    from .routes import routes

    return list(routes)


@hookimpl
def paperchain_ui(kernel):
    from .ui import plugin_ui

    return plugin_ui()


def _run_settings(kernel) -> RunSettings:
    try:
        return kernel.component("quantum.run").settings
    except Exception:  # noqa: BLE001 - the step may be disabled in the deployment's config
        return RunSettings()
