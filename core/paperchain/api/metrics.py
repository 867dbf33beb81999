"""Prometheus metrics (prometheus_client), one registry per application."""

from __future__ import annotations

import bisect

_BOUNDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class RequestCollector:
    """Request counts and latencies kept as plain numbers and turned into metric families only
    when /metrics is scraped. A request appends one tuple to its route's list; the lists are
    folded into counts and histogram cells in batches, which costs less than folding each request
    between network reads."""

    def __init__(self):
        self.routes: dict[str, RouteStats] = {}

    def route(self, route: str) -> RouteStats:
        """``route``'s stats (looked up once, when the route is added)."""
        stats = self.routes.get(route)
        if stats is None:
            stats = self.routes[route] = RouteStats()
        return stats

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

        for stats in self.routes.values():
            stats.fold()
        counter = CounterMetricFamily("paperchain_http_requests", "HTTP requests", labels=["method", "route", "status"])
        for route, stats in self.routes.items():
            for (method, status), count in stats.counts.items():
                counter.add_metric([method, route, str(status)], count)
        yield counter
        histogram = HistogramMetricFamily("paperchain_http_request_seconds", "HTTP request latency",
                                          labels=["method", "route"])
        for route, method, cells in ((r, m, c) for r, stats in self.routes.items() for m, c in stats.latency.items()):
            running, buckets = 0, []
            for bound, count in zip((*map(str, _BOUNDS), "+Inf"), cells[:-1]):
                running += count
                buckets.append((bound, running))
            histogram.add_metric([method, route], buckets, sum_value=cells[-1])
        yield histogram


class RouteStats:
    """One route's requests: ``pending`` (method, status, seconds) tuples not yet folded, counts by
    (method, status) and latency cells by method."""

    FOLD_AT = 4096

    def __init__(self):
        self.pending: list[tuple[str, int, float]] = []
        self.counts: dict[tuple[str, int], int] = {}
        self.latency: dict[str, list] = {}  # method -> [count per bucket..., +Inf count, sum]

    def fold(self) -> None:
        pending, self.pending[:] = self.pending[:], []
        counts, latency = self.counts, self.latency
        for method, status, seconds in pending:
            key = (method, status)
            counts[key] = counts.get(key, 0) + 1
            cells = latency.get(method)
            if cells is None:
                cells = latency[method] = [0] * (len(_BOUNDS) + 1) + [0.0]
            cells[bisect.bisect_left(_BOUNDS, seconds)] += 1
            cells[-1] += seconds


class Metrics:
    def __init__(self, kernel):
        from prometheus_client import CollectorRegistry, Counter, Gauge

        self.k = kernel
        self.registry = CollectorRegistry()
        self.http = RequestCollector()
        self.registry.register(self.http)
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
        self.queue.set_function(lambda: self._active_runs)
        self.batches.set_function(lambda: len(kernel._batches))
        kernel.listeners.append(self.observe)

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
