"""Contract checks a plugin author calls to prove a component meets its kind's contract."""

from __future__ import annotations

import inspect
import json
from typing import Any

import attrs

from ..contracts import CONTRACT_BY_KIND
from ..records import Artifact, Findings, Prediction, Result
from ..specs import ComponentSpec
from .components import build_component, plugin_specs, run_component


def check_plugin(plugin: Any) -> dict[str, ComponentSpec]:
    """Check a plugin module: its hooks match the specs and every component passes :func:`check_spec`.

    Returns the specs by name so a test can go on to run them.
    """
    specs = plugin_specs(plugin)
    if not specs and not _has_other_hooks(plugin):
        raise AssertionError(f"{plugin!r} implements no paperchain hook")
    for spec in specs.values():
        check_spec(spec)
    return specs


def check_spec(spec: ComponentSpec) -> type:
    """Static checks: the implementation imports, subclasses its kind's contract, and is concrete."""
    impl = spec.load()
    contract = CONTRACT_BY_KIND[spec.kind]
    if not (isinstance(impl, type) and issubclass(impl, contract)):
        raise AssertionError(
            f"{spec.name!r}: {impl!r} must subclass paperchain_sdk.contracts.{contract.__name__}"
        )
    if inspect.isabstract(impl):
        missing = ", ".join(sorted(getattr(impl, "__abstractmethods__", ())))
        raise AssertionError(f"{spec.name!r}: {impl.__name__} does not implement {missing}")
    if spec.kind == "exporter":
        scope = getattr(spec, "scope", "document")  # an ExporterSpec's
        method = "export_batch" if scope == "batch" else "export"
        if getattr(impl, method) is getattr(contract, method):
            raise AssertionError(f"{spec.name!r}: a {scope}-scoped exporter must implement {method}()")
    if spec.settings is not None:
        for field in attrs.fields(spec.settings):
            if field.default is attrs.NOTHING:
                raise AssertionError(
                    f"{spec.name!r}: settings field {field.name!r} needs a default so the component "
                    "works with no options"
                )
    build_component(spec)
    return impl


def check_component(spec: ComponentSpec, **run_kwargs) -> Any:
    """Run a step-capable component once and check what it returns against its kind's contract.

    Pass the arguments :func:`run_component` takes (``document``, ``options``, ``batch`` …).
    Returns the result for further assertions.
    """
    check_spec(spec)
    result = run_component(spec, **run_kwargs)
    if spec.kind == "exporter":
        if not isinstance(result, Artifact):
            raise AssertionError(f"{spec.name!r}.export returned {type(result).__name__}, not an Artifact")
        if not result.read_bytes():
            raise AssertionError(f"{spec.name!r} exported an empty file")
        expected = getattr(spec, "media_type", None)  # an ExporterSpec's
        if result.media_type != expected:
            raise AssertionError(f"{spec.name!r}: artifact media type {result.media_type!r} != spec {expected!r}")
    elif spec.kind == "analyzer":
        if not isinstance(result, Findings):
            raise AssertionError(f"{spec.name!r}.analyze returned {type(result).__name__}, not Findings")
        _check_json(spec, result.data)
    elif spec.kind == "action":
        if isinstance(result, Result):
            _check_json(spec, result.outputs)
        elif isinstance(result, dict):
            _check_json(spec, result)
        elif result is not None:
            raise AssertionError(f"{spec.name!r}.run returned {type(result).__name__}: return a dict or a Result")
    elif spec.kind == "model" and not isinstance(result, Prediction):
        raise AssertionError(f"{spec.name!r}.predict returned {type(result).__name__}, not a Prediction")
    return result


def _check_json(spec: ComponentSpec, data: Any) -> None:
    try:
        json.dumps(data)
    except (TypeError, ValueError) as exc:
        raise AssertionError(f"{spec.name!r} returned data that is not JSON-serialisable: {exc}") from None


def _has_other_hooks(plugin: Any) -> bool:
    return any(name.startswith("paperchain_") for name in dir(plugin))
