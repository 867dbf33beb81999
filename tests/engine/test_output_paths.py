"""Step outputs are shown through the API: they never hold the server's absolute paths."""

from __future__ import annotations

import json

from paperchain_sdk import ActionSpec, Artifact, Result, hookimpl
from paperchain_sdk.contracts import Action


class Produce(Action):
    async def run(self, ctx, inputs):
        return Result(outputs={"scratch": f"{ctx.work_dir}/notes.txt", "elsewhere": "/etc/hostname"},
                      artifacts=[Artifact(name="summary.txt", media_type="text/plain", data=b"a summary")])


class Plugin:
    @hookimpl
    def paperchain_actions(self):
        return [ActionSpec(name="test.produce", impl=Produce)]


def test_artifacts_and_data_paths_in_outputs_are_not_absolute(paperchain_kernel):
    kernel = paperchain_kernel(Plugin())
    outcome = kernel.run({"name": "paths", "steps": [{"id": "make", "uses": "test.produce"}]}, inputs={})
    run = outcome.runs[0]
    outputs = run.steps["make"].outputs
    data_dir = str(kernel.kernel.data_dir.resolve())
    assert data_dir not in json.dumps(outputs)
    assert outputs["artifacts"] == [{
        "name": "summary.txt", "media_type": "text/plain", "sha256": outputs["artifacts"][0]["sha256"], "size": 9,
        "download": f"/api/v1/runs/{run.id}/artifacts/make/summary.txt",
    }]
    assert outputs["scratch"] == f"work/{run.id}/make/notes.txt"
    assert outputs["elsewhere"] == "/etc/hostname"  # not the server's data: left as the step said


def test_run_outcomes_name_artifacts_by_their_download_route(paperchain_kernel):
    kernel = paperchain_kernel(Plugin())
    outcome = kernel.run({"name": "paths", "steps": [{"id": "make", "uses": "test.produce"}]}, inputs={})
    run = outcome.runs[0]
    assert [(a.name, a.download) for a in run.artifacts] == [
        ("summary.txt", f"/api/v1/runs/{run.id}/artifacts/make/summary.txt")]
    assert str(kernel.kernel.data_dir.resolve()) not in repr(outcome)


class Stumble(Action):
    async def run(self, ctx, inputs):
        raise RuntimeError(f"cannot open {ctx.work_dir}/input.bin")


class StumblePlugin:
    @hookimpl
    def paperchain_actions(self):
        return [ActionSpec(name="test.stumble", impl=Stumble)]


def test_step_errors_do_not_show_data_directory_paths(paperchain_kernel):
    kernel = paperchain_kernel(StumblePlugin())
    outcome = kernel.run({"name": "paths", "steps": [{"id": "s", "uses": "test.stumble"}]}, inputs={})
    run = outcome.runs[0]
    assert run.steps["s"].error == f"RuntimeError: cannot open work/{run.id}/s/input.bin"
    assert str(kernel.kernel.data_dir.resolve()) not in run.error
