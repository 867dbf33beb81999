"""KernelBound: a step component reaches the kernel running it, bound at startup, never through a global."""

import pytest

from paperchain_sdk import ConfigError
from paperchain_sdk.contracts import Analyzer, KernelBound, bind_kernel


class Counts(KernelBound, Analyzer):
    def analyze(self, doc, options):
        return self.kernel


class Kernel:
    """What bind_kernel uses of a kernel: its own instance of each component."""

    def __init__(self):
        self.instances = {"demo.counts": Counts()}

    def component(self, name):
        return self.instances[name]


def test_each_kernel_binds_its_own_instance():
    first, second = Kernel(), Kernel()
    bind_kernel(first, "demo.counts")
    bind_kernel(second, "demo.counts")
    assert first.component("demo.counts").analyze(None, None) is first
    assert second.component("demo.counts").analyze(None, None) is second


def test_an_unbound_component_says_it_needs_a_kernel():
    with pytest.raises(ConfigError, match="Counts needs a running Paperchain kernel") as caught:
        Counts().analyze(None, None)
    assert "workflow" in caught.value.hint
