"""A synchronous kernel for tests (the SDK's ``paperchain_kernel`` fixture builds one).

It holds only the plugins it is given, keeps its data in a folder of the test's, and runs
workflows to completion on its own event loop.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Iterable

from .config import Config, KernelSettings
from .documents import expand_paths
from .kernel import Kernel
from .outcomes import BatchOutcome, load_batch


class KernelHarness:
    def __init__(self, plugins: Iterable[Any], *, data_dir: Path, config: dict | None = None, builtins: bool = True):
        config = dict(config or {})
        settings = KernelSettings(**config.pop("paperchain", {}))
        components = config.pop("components", {})
        if config:
            raise ValueError(f"unknown config tables {sorted(config)}: use 'paperchain' and 'components'")
        self.config = Config(source="the test's config", data_dir=Path(data_dir), kernel=settings, components=components)
        self.kernel = Kernel(self.config, plugins=plugins, builtins=builtins)
        self._runner = asyncio.Runner()
        self._runner.run(self.kernel.open())

    @property
    def registry(self):
        return self.kernel.registry

    @property
    def plugins(self):
        return self.kernel.plugins

    def call(self, coroutine):
        """Run any kernel coroutine on the harness's loop."""
        return self._runner.run(coroutine)

    def run(self, workflow, files=(), inputs: dict | None = None) -> BatchOutcome:
        """Validate ``workflow`` (dict, TOML text or path), run it over ``files`` (or once with ``inputs``)."""
        return self._runner.run(self._run(workflow, files, inputs))

    async def _run(self, workflow, files, inputs):
        wf = workflow if hasattr(workflow, "steps") else self.kernel.load_workflow(workflow)
        batch_id = await self.kernel.engine.submit(wf, expand_paths(files), inputs)
        await self.kernel.engine.run_batch(batch_id)
        return await load_batch(self.kernel, batch_id)

    def resume(self) -> list[BatchOutcome]:
        async def resume():
            return [await load_batch(self.kernel, b) for b in await self.kernel.engine.resume()]

        return self._runner.run(resume())

    def close(self) -> None:
        try:
            self._runner.run(self.kernel.close())
        finally:
            self._runner.close()
