"""The hooks a Paperchain plugin can implement. Each docstring is the hook's reference.

Implement a hook by defining a function of the same name decorated with
:data:`paperchain_sdk.hookimpl` in the module your entry point names. An implementation may
accept any subset of the hook's arguments, so hooks can gain arguments without breaking plugins.

Registration hooks (``paperchain_<kind>s``) are synchronous and called once at start-up; every
plugin's results are collected (never "first answer wins"). Lifecycle hooks may return an
awaitable, which the kernel awaits.
"""

from __future__ import annotations

import pluggy

PROJECT = "paperchain"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def paperchain_triggers():
    """Offer trigger components: sources of run requests.

    :return: an iterable of :class:`paperchain_sdk.TriggerSpec`. Each implementation class
        subclasses :class:`paperchain_sdk.contracts.Trigger`.
    """


@hookspec
def paperchain_actions():
    """Offer action components: workflow steps that are not exporters, analyzers or models.

    :return: an iterable of :class:`paperchain_sdk.ActionSpec`. Each implementation subclasses
        :class:`paperchain_sdk.contracts.Action` and its ``run(ctx, inputs)`` returns a dict of
        outputs or a :class:`paperchain_sdk.Result`.
    """


@hookspec
def paperchain_exporters():
    """Offer exporter components: a document (or a batch) rendered as a file.

    :return: an iterable of :class:`paperchain_sdk.ExporterSpec` (with ``format``,
        ``media_type``, ``extension`` and ``scope``). Implementations subclass
        :class:`paperchain_sdk.contracts.Exporter`.
    """


@hookspec
def paperchain_analyzers():
    """Offer analyzer components: read a document, return :class:`paperchain_sdk.Findings`.

    :return: an iterable of :class:`paperchain_sdk.AnalyzerSpec`. Implementations subclass
        :class:`paperchain_sdk.contracts.Analyzer`.
    """


@hookspec
def paperchain_models():
    """Offer model components: predict (and optionally fit).

    :return: an iterable of :class:`paperchain_sdk.ModelSpec`. Implementations subclass
        :class:`paperchain_sdk.contracts.Model`.
    """


@hookspec
def paperchain_ledgers():
    """Offer ledger components: tamper-evident append-only logs.

    Exactly one ledger is active per deployment (``[paperchain] ledger`` in plugins.toml).

    :return: an iterable of :class:`paperchain_sdk.LedgerSpec`. Implementations subclass
        :class:`paperchain_sdk.contracts.Ledger`.
    """


@hookspec
def paperchain_notifiers():
    """Offer notifier components: deliver messages on a channel.

    :return: an iterable of :class:`paperchain_sdk.NotifierSpec`. Implementations subclass
        :class:`paperchain_sdk.contracts.Notifier`.
    """


@hookspec
def paperchain_commands():
    """Add command-line commands under ``paperchain``.

    :return: an iterable of :class:`paperchain_sdk.CommandSpec` whose ``impl`` references a
        click command or group; it is imported only when that command runs, so ``--help`` stays
        fast.
    """


@hookspec
def paperchain_startup(kernel):
    """Called once when the kernel has loaded plugins and opened its store.

    :param kernel: the running kernel (see :class:`paperchain_sdk.kernel.KernelAPI`).
    :return: None or an awaitable, which the kernel awaits before serving or running.
    """


@hookspec
def paperchain_shutdown(kernel):
    """Called once when the kernel stops, after every run in flight has been checkpointed.

    :param kernel: the running kernel.
    :return: None or an awaitable, which the kernel awaits.
    """


@hookspec
def paperchain_event(event, kernel):
    """Called for every state change the kernel records (run, step, document, plugin events).

    Implementations must be quick: hand slow work to a task. An exception here is logged and
    never stops the run that caused the event.

    :param event: a :class:`paperchain_sdk.Event` (``type`` such as ``run.succeeded``,
        ``step.failed``, ``document.ingested``; ``subject`` the id; ``data`` details).
    :param kernel: the running kernel.
    :return: None or an awaitable, which the kernel awaits.
    """


@hookspec
def paperchain_routes(kernel):
    """Add HTTP routes to the API server (``paperchain serve``).

    :param kernel: the running kernel.
    :return: an iterable of ``aiohttp.web.RouteDef`` (for example from a ``web.RouteTableDef``);
        paths should start with ``/api/v1/<plugin>/``. They appear in the OpenAPI document.
        Keep the handlers at module level in a route table and return it: a handler finds its
        kernel with ``paperchain_sdk.web.kernel_of(request)`` and the plugin's per-kernel state
        with ``kernel.plugin_state(...)``, so no route closes over a kernel.
    """


@hookspec
def paperchain_ui(kernel):
    """Add pages, navigation entries, panels, templates, translations and static files to the web UI.

    Called once when the web UI is mounted (``paperchain serve``). Every page and panel is served
    through the core's guard (sessions, CSRF, roles, tenants, rate limits, audit, CSP, error
    pages); see :mod:`paperchain_sdk.ui` for the handlers' signature and the named slots. A
    failure here is logged and the plugin's UI is shown as failed; the core pages keep working.

    :param kernel: the running kernel.
    :return: a :class:`paperchain_sdk.ui.PluginUI` (or None for nothing); its pages live under
        ``/p/<plugin>/``, its static files under ``/static/p/<plugin>/`` and its templates are
        named ``<plugin>/<file>``.
    """
