"""The pytest plugin shipped with the SDK (entry point ``pytest11``): fixtures for plugin tests.

Fixtures:

``paperchain_document``
    ``paperchain_document(name, content, **fields) -> Document`` in the test's temporary folder.
``paperchain_kernel``
    ``paperchain_kernel(*plugins, config=None, builtins=True) -> harness``: a real kernel (its
    engine, store and registry in the test's temporary folder) that loads only the plugins given
    (modules or objects with hook implementations; no entry-point discovery). The harness runs
    workflows synchronously: ``harness.run(workflow, files=[...], inputs={...})``. Needs the
    ``paperchain`` distribution installed; the test is skipped with that advice otherwise.
"""

from __future__ import annotations

import pytest

from .components import make_document


@pytest.fixture
def paperchain_document(tmp_path):
    def factory(name: str, content: bytes | str, **fields):
        return make_document(tmp_path / "documents", name, content, **fields)

    return factory


@pytest.fixture
def paperchain_kernel(tmp_path):
    harness_module = pytest.importorskip(
        "paperchain.harness", reason="the paperchain_kernel fixture needs the kernel: pip install paperchain"
    )
    KernelHarness = harness_module.KernelHarness

    made: list = []

    def factory(*plugins, config=None, builtins: bool = True):
        harness = KernelHarness(
            plugins, data_dir=tmp_path / f"kernel-{len(made)}", config=config, builtins=builtins
        )
        made.append(harness)
        return harness

    yield factory
    for harness in made:
        harness.close()


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: a test that takes seconds; CI runs it, `-m 'not slow'` skips it")
