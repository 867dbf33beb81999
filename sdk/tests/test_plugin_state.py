"""kernel.plugin_state: one slot of per-kernel state per plugin, never shared between kernels."""

import pytest

pytest.importorskip("paperchain.harness", reason="the slot lives on the kernel: pip install paperchain")


def test_two_kernels_keep_separate_state(paperchain_kernel):
    first, second = paperchain_kernel().kernel, paperchain_kernel().kernel
    first.plugin_state("ledger")["book"] = "first's"
    assert first.plugin_state("ledger") is first.plugin_state("ledger")
    assert first.plugin_state("ledger") == {"book": "first's"}
    assert second.plugin_state("ledger") == {}
    assert first.plugin_state("notify") == {}  # another plugin's slot is its own


def test_closing_the_kernel_drops_its_state(paperchain_kernel):
    harness = paperchain_kernel()
    slot = harness.kernel.plugin_state("triggers")
    slot["running"] = object()
    harness.close()
    assert slot == {}
    assert harness.kernel.plugin_state("triggers") == {}


def test_the_slot_needs_a_plugin_name(paperchain_kernel):
    kernel = paperchain_kernel().kernel
    for bad in ("", None, 3):
        with pytest.raises(ValueError, match="plugin_state takes the plugin's name"):
            kernel.plugin_state(bad)
