"""The runtime contract of each component kind.

Subclass the base class of your kind and implement its abstract methods. Methods may be written
``async def`` (I/O-bound work) or plain ``def``: the kernel runs plain ones in a worker thread, or
in its process pool when the spec says ``cpu_bound=True``, so the event loop never blocks.

Every component is constructed once per deployment as ``Impl(settings)``: ``settings`` is an
instance of the spec's settings class built from plugins.toml's ``[components.<name>]`` table (or
None when the spec has no settings class). Per-call ``options`` are the same class built from that
table overlaid with the step's ``with`` values.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from .errors import ConfigError
from .records import (
    Artifact,
    Batch,
    Delivery,
    Document,
    Findings,
    Message,
    Prediction,
    Receipt,
    Result,
    RunContext,
    RunRequest,
)


class Component:
    """Common base: keeps the deployment settings."""

    def __init__(self, settings: Any = None):
        self.settings = settings


class Trigger(Component, abc.ABC):
    """A long-lived source of run requests. ``settings`` is the workflow's ``on.<trigger>`` table
    (over plugins.toml's defaults); one instance is made per workflow that names the trigger.

    Optional: ``attach(self, kernel, workflow)`` is called before ``start`` when defined, with the
    running kernel (see :class:`paperchain_sdk.kernel.KernelAPI`) and the workflow's name, for
    triggers that watch kernel events or keep state in the database.
    """

    @abc.abstractmethod
    async def start(self, emit: Callable[[RunRequest], Awaitable[str]]) -> None:
        """Begin watching; call ``await emit(RunRequest(...))`` for each run to start. Return promptly."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Stop watching and release resources; no ``emit`` after this returns."""


class Action(Component, abc.ABC):
    """One workflow step."""

    @abc.abstractmethod
    def run(self, ctx: RunContext, inputs: Any) -> Result | Mapping[str, Any]:
        """Do the step. ``inputs`` are the step's options; return outputs (a dict) or a Result."""


class Exporter(Component, abc.ABC):
    """Turns a document (and its findings) into a file. Batch-scoped exporters override export_batch."""

    def export(self, doc: Document, options: Any) -> Artifact:
        """Return the document rendered in this exporter's format."""
        raise TypeError(f"{type(self).__name__} exports whole batches only")

    def export_batch(self, batch: Batch, options: Any) -> Artifact:
        """Return one file for a whole batch (spec ``scope='batch'``)."""
        raise TypeError(f"{type(self).__name__} exports single documents only")


class Analyzer(Component, abc.ABC):
    """Reads a document and reports findings; one analyzer's failure never affects another's."""

    @abc.abstractmethod
    def analyze(self, doc: Document, options: Any) -> Findings:
        """Return what was found in ``doc``."""


class Model(Component, abc.ABC):
    """A trained or imported model."""

    @abc.abstractmethod
    def predict(self, inputs: Mapping[str, Any]) -> Prediction:
        """Predict for one input."""

    def fit(self, data: Any) -> Mapping[str, Any]:
        """Train on ``data`` and return metrics. Optional: models that cannot train need not override."""
        raise TypeError(f"{type(self).__name__} cannot be trained")


class Ledger(Component, abc.ABC):
    """A tamper-evident append-only log."""

    @abc.abstractmethod
    def append(self, entry: bytes) -> Receipt:
        """Append ``entry`` durably and return its receipt."""

    @abc.abstractmethod
    def prove(self, index: int, tree_size: int | None = None) -> Mapping[str, Any]:
        """An inclusion proof for entry ``index`` in the tree of ``tree_size`` (default: latest)."""

    @abc.abstractmethod
    def checkpoint(self) -> Mapping[str, Any]:
        """The latest signed tree head."""


class Notifier(Component, abc.ABC):
    """Delivers a message on one channel."""

    @abc.abstractmethod
    def send(self, message: Message) -> Delivery:
        """Deliver ``message`` (or queue it) and say what became of it."""


class KernelBound:
    """Mix into a step component that works through the kernel running it (its plugin storage, its
    ``plugin_state``): ``class Impl(KernelBound, Analyzer)``, then ``self.kernel`` in its methods.

    Components are built as ``Impl(settings)`` and never see the kernel. Each kernel builds its own
    instances, so the plugin's ``paperchain_startup`` hands the kernel to them with
    :func:`bind_kernel`: no module global maps documents, processes or "the last kernel started"
    to a kernel. Built outside a kernel (a unit test, a process-pool worker), ``self.kernel``
    raises :meth:`unbound_error`, which a component may override to say what it needs the kernel for.
    """

    _bound_kernel: Any = None

    def bind(self, kernel: Any) -> None:
        self._bound_kernel = kernel

    @property
    def kernel(self) -> Any:
        if self._bound_kernel is None:
            raise self.unbound_error()
        return self._bound_kernel

    def unbound_error(self) -> ConfigError:
        return ConfigError(f"{type(self).__name__} needs a running Paperchain kernel.",
                           hint="run it as a step of a workflow (paperchain run, or the API)")


def bind_kernel(kernel: Any, *names: str) -> None:
    """Hand ``kernel`` to its own instances of the named :class:`KernelBound` components; call it in
    the plugin's ``paperchain_startup``. Such components are not ``cpu_bound``: those run in worker
    processes, which have no kernel."""
    for name in names:
        kernel.component(name).bind(kernel)


CONTRACT_BY_KIND: dict[str, type] = {
    "trigger": Trigger,
    "action": Action,
    "exporter": Exporter,
    "analyzer": Analyzer,
    "model": Model,
    "ledger": Ledger,
    "notifier": Notifier,
}

# The method a step calls for each kind that can be a workflow step.
STEP_METHOD = {"action": "run", "exporter": "export", "analyzer": "analyze", "model": "predict"}
