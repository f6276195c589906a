"""The gateway's Prometheus metrics, under OpenFaaS's gateway names (prometheus-client).

    gateway_function_invocation_total{function_name, code}   calls answered, by status
    gateway_functions_seconds{function_name, code}           their duration (histogram)
    gateway_function_invocation_started{function_name}       calls begun
    gateway_service_count{function_name}                     ready replicas, set at each scrape

`function_name` carries the namespace, as OpenFaaS's gateway writes it (`predict.openfaas-fn`).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from infra.gateway.stackfile import NAMESPACE

__all__ = ["CONTENT_TYPE_LATEST", "GatewayMetrics"]


def qualified(name: str) -> str:
    return f"{name}.{NAMESPACE}"


class GatewayMetrics:
    def __init__(self):
        disable_created_metrics()  # OpenFaaS's gateway has no `_created` series
        self.registry = CollectorRegistry()
        self.invocations = Counter("gateway_function_invocation", "Function invocations answered",
                                   ["function_name", "code"], registry=self.registry)
        self.seconds = Histogram("gateway_functions_seconds", "Function invocation duration",
                                 ["function_name", "code"], registry=self.registry)
        # a gauge only counts up here: a prometheus-client Counter would add `_total` to
        # the name, and OpenFaaS's dashboards query it as `gateway_function_invocation_started`
        self.started = Gauge("gateway_function_invocation_started", "Function invocations started",
                             ["function_name"], registry=self.registry)
        self.replicas = Gauge("gateway_service_count", "Ready replicas of each function",
                              ["function_name"], registry=self.registry)
        # labelled children, looked up once: `.labels()` per call was a few % of the gateway's time
        self._started: dict[str, Gauge] = {}
        self._ended: dict[tuple[str, int], tuple[Counter, Histogram]] = {}

    def begin(self, function: str) -> None:
        child = self._started.get(function)
        if child is None:
            child = self._started[function] = self.started.labels(qualified(function))
        child.inc()

    def end(self, function: str, code: int, seconds: float) -> None:
        children = self._ended.get((function, code))
        if children is None:
            labels = (qualified(function), str(code))
            children = self._ended[function, code] = (self.invocations.labels(*labels), self.seconds.labels(*labels))
        children[0].inc()
        children[1].observe(seconds)

    def invocation_count(self, function: str) -> int:
        """The total of gateway_function_invocation_total over every code (`invocationCount`)."""
        wanted = qualified(function)
        return int(sum(sample.value for metric in self.invocations.collect() for sample in metric.samples
                       if sample.name.endswith("_total") and sample.labels["function_name"] == wanted))

    def exposition(self, ready: dict[str, int]) -> bytes:
        for function, count in ready.items():
            self.replicas.labels(qualified(function)).set(count)
        return generate_latest(self.registry)
