"""Test helpers for plugin authors (also a pytest plugin: see :mod:`paperchain_sdk.testing.plugin`).

- :func:`plugin_specs` / :func:`check_plugin`: what a plugin module offers, validated.
- :func:`run_component`: call one component the way a workflow step would, no kernel needed.
- :func:`check_component`: run it and check the result against its kind's contract.
- :func:`make_document`: a Document from bytes or text in a temporary folder.
- :func:`pdf_from_objects`: a hand-made PDF holding exactly the objects a test needs.
- the ``paperchain_kernel`` fixture: a real kernel holding only the plugins a test names.
"""

from .components import build_component, make_document, plugin_specs, run_component
from .contracts import check_component, check_plugin, check_spec
from .pdf import pdf_from_objects

__all__ = ["build_component", "check_component", "check_plugin", "check_spec", "make_document", "pdf_from_objects", "plugin_specs",
           "run_component"]
