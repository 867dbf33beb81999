"""Prometheus metrics (prometheus_client), one registry per application."""

from __future__ import annotations


class Metrics:
    def __init__(self, kernel):
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.k = kernel
        self.registry = CollectorRegistry()
        self.requests = Counter("paperchain_http_requests", "HTTP requests", ["method", "route", "status"],
                                registry=self.registry)
        self.latency = Histogram("paperchain_http_request_seconds", "HTTP request latency", ["method", "route"],
                                 registry=self.registry,
                                 buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
        self.runs = Counter("paperchain_runs", "Runs finished, by status", ["workflow", "status"], registry=self.registry)
        self.steps = Counter("paperchain_steps", "Steps finished, by status", ["uses", "status"], registry=self.registry)
        self.queue = Gauge("paperchain_runs_queued", "Runs waiting or running in this process", registry=self.registry)
        self.batches = Gauge("paperchain_batches_active", "Batches running in this process", registry=self.registry)
        self.plugin_failures = Gauge("paperchain_plugin_load_failures", "Plugins that failed to load",
                                     registry=self.registry)
        self.subscribers = Gauge("paperchain_live_subscribers", "Live event subscribers", registry=self.registry)
        self.dropped = Counter("paperchain_live_dropped", "Live subscribers dropped for falling behind",
                               registry=self.registry)
        self.plugin_failures.set(sum(1 for p in kernel.plugins if p.status == "failed"))
        self._active_runs = 0
        self._children: dict[tuple, tuple] = {}
        self.queue.set_function(lambda: self._active_runs)
        self.batches.set_function(lambda: len(kernel._batches))
        kernel.listeners.append(self.observe)

    def request(self, method: str, route: str, status: int, seconds: float) -> None:
        # labels() costs a lock and a tuple hash per call: keep the children.
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (self.requests.labels(method, route, str(status)),
                                              self.latency.labels(method, route))
        children[0].inc()
        children[1].observe(seconds)

    def observe(self, event) -> None:
        kind = event.type
        if kind.startswith("run."):
            if kind in ("run.started", "run.resumed"):
                self._active_runs += 1
            elif kind in ("run.succeeded", "run.failed", "run.cancelled"):
                self._active_runs = max(0, self._active_runs - 1)
                self.runs.labels(event.data.get("workflow", ""), kind[4:]).inc()
        elif kind in ("step.succeeded", "step.failed", "step.skipped"):
            self.steps.labels(event.data.get("uses", ""), kind[5:]).inc()

    def render(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST
