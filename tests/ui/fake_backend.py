"""A small in-memory stand-in for `ui.backend.Backend`: the one boundary the page tests are about."""

from __future__ import annotations

from shared.errors import BadRequest, ServiceUnavailable, Unauthorized

# a 1x1 PNG: enough for the page to show an image
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c6300010000000500010d0a2db40000000049454e44ae426082"
)
MLFLOW_DOWN = "MLflow at http://127.0.0.1:5000 is not reachable (ConnectionError)"
MINIO_DOWN = "MinIO at 127.0.0.1:9000 is not reachable (MaxRetryError)"
GATEWAY_DOWN = "gateway at http://127.0.0.1:8080 is not reachable (ConnectionError)"
PROMETHEUS_DOWN = "Prometheus at http://127.0.0.1:9090 is not reachable (ConnectionError)"


class FakeBackend:
    batch_threshold = 10
    model_alias = "champion"

    def __init__(self) -> None:
        self.down: set[str] = set()  # "mlflow", "minio", "gateway"
        self.predicted: list[dict] = []
        self.predicted_csv: list[str] = []
        self.promoted: list[str] = []
        self.predict_error: BadRequest | None = None
        self.stored_batches = [
            {"number": n, "key": f"batches/group=6/batch={n:03d}.csv", "rows": 5810,
             "fetched_at": f"2026-11-27T05:{n:02d}:00+00:00", "source": "http://127.0.0.1:8090"}
            for n in (1, 2, 3)
        ]
        self.run_list = [
            {"run_id": f"run{i}", "run_name": family, "training_id": "t-0001", "family": family, "status": "FINISHED",
             "start_time": 1_790_000_000_000 + i, "end_time": None, "accuracy": acc, "f1": acc - 0.01,
             "precision": acc - 0.02, "recall": acc, "error": ""}
            for i, (family, acc) in enumerate([("logistic_regression", 0.71), ("random_forest", 0.93),
                                               ("gradient_boosting", 0.95)])
        ]
        self.version_list = [
            {"version": str(n), "aliases": ["champion"] if n == 3 else [], "family": run["family"],
             "accuracy": run["accuracy"], "f1": run["f1"], "training_id": "t-0001", "run_id": run["run_id"],
             "created": 1_790_000_100_000, "updated": 1_790_000_100_000, "status": "READY"}
            for n, run in enumerate(self.run_list, start=1)
        ]

    def _require(self, service: str) -> None:
        messages = {"mlflow": MLFLOW_DOWN, "minio": MINIO_DOWN, "gateway": GATEWAY_DOWN, "prometheus": PROMETHEUS_DOWN}
        if service in self.down:
            raise ServiceUnavailable(messages[service])

    def health(self) -> dict[str, str | None]:
        services = {"mysql": None, "minio": MINIO_DOWN, "mlflow": MLFLOW_DOWN, "gateway": GATEWAY_DOWN,
                    "data-api": None}
        return {name: (msg if name in self.down else None) for name, msg in services.items()}

    def batches(self) -> list[dict]:
        self._require("minio")
        return list(self.stored_batches)

    def runs(self) -> list[dict]:
        self._require("mlflow")
        return list(self.run_list)

    def training_state(self, batches_stored: int | None) -> dict:
        self._require("mlflow")
        return {"state": "done", "reason": "3 model(s) trained", "training_id": "t-0001"}

    def versions(self) -> list[dict]:
        self._require("mlflow")
        return list(self.version_list)

    def champion(self) -> dict | None:
        self._require("mlflow")
        return next((v for v in self.version_list if "champion" in v["aliases"]), None)

    def confusion_matrix(self, run_id: str) -> bytes | None:
        self._require("mlflow")
        return PNG

    def quality_reports(self) -> list[dict]:
        self._require("minio")
        return [quality_report(b["number"], flagged=b["number"] == 3) for b in self.stored_batches]

    def importance(self, run_id: str) -> dict | None:
        self._require("mlflow")
        return {"Elevation": {"mean": 0.31, "std": 0.01}, "Soil_Type": {"mean": 0.08, "std": 0.004},
                "Aspect": {"mean": 0.002, "std": 0.001}}

    def operations(self) -> dict:
        self._require("prometheus")
        now = 1_790_000_000.0
        points = lambda base: [(now + 15 * i, base * (1 + i % 3)) for i in range(5)]  # noqa: E731
        return {"calls": {"predict": points(2.0), "fetch-batch": points(0.01)}, "errors": {"predict": points(0.01)},
                "p50": {"predict": points(0.012)}, "p99": {"predict": points(0.08)}}

    def functions(self) -> list[dict]:
        self._require("gateway")
        return [{"name": "fetch-batch", "schedule": "*/5 * * * *", "next_firing": "2026-11-27T05:05:00+00:00"},
                {"name": "predict"}]

    def function_logs(self, name: str, tail: int) -> list[dict]:
        self._require("gateway")
        return [{"name": name, "namespace": "openfaas-fn", "instance": f"{name}-1",
                 "timestamp": f"2026-11-27T05:0{i}:00Z", "text": f"{name} line {i}"} for i in range(min(tail, 3))]

    def predict(self, record) -> dict:
        self._require("gateway")
        if self.predict_error:
            raise self.predict_error
        self.predicted.append(dict(record))
        return {"predictions": [{"cover_type": 2, "label": "Lodgepole Pine",
                                 "probabilities": {"1": 0.3, "2": 0.6, "3": 0.1}}],
                "model": {"name": "covertype-classifier", "version": "3", "family": "gradient_boosting"}}

    def predict_csv(self, text: str) -> dict:
        self._require("gateway")
        if self.predict_error:
            raise self.predict_error
        self.predicted_csv.append(text)
        rows = len(text.strip().splitlines()) - 1
        return {"predictions": [{"cover_type": 1, "label": "Spruce/Fir", "probabilities": {"1": 0.8, "2": 0.2}}] * rows,
                "model": {"version": "3", "family": "gradient_boosting"}}

    def promote(self, version: str, user: str, password: str) -> None:
        self._require("mlflow")
        if (user, password) != ("admin", "s3cret"):
            raise Unauthorized("wrong admin user or password (the gateway's basic-auth credentials)")
        self.promoted.append(version)
        for entry in self.version_list:
            entry["aliases"] = ["champion"] if entry["version"] == version else []


def quality_report(number: int, flagged: bool) -> dict:
    """A batch's report shaped as shared/quality.py writes it."""
    values = {"Elevation": 1.2 if flagged else 0.01, "Aspect": 0.003, "Soil_Type": 0.04,
              "Cover_Type": 0.12 if flagged else 0.02}
    features = ["Elevation", "Cover_Type"] if flagged else []
    shares = {"1": 0.49, "2": 0.37} if flagged else {"1": 0.37, "2": 0.49}
    return {"batch_number": number, "rows": 5810, "rows_repeated_within": 0, "rows_repeated_earlier": 4,
            "class_shares": {**shares, "3": 0.14}, "thresholds": {"psi": 0.2, "js": 0.1},
            "drift": {"earlier": {"batches": list(range(1, number)), "values": values, "flagged_features": features}},
            "flagged": flagged, "flagged_features": features}
