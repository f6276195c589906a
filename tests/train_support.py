"""Helpers for the train-model tests: small stored batches, MinIO-shaped events, the handler."""

from __future__ import annotations

import base64
import importlib.util
import json
import uuid
from types import SimpleNamespace

import pytest

from infra.data_api.synthetic import generate
from shared.batches import batch_key, store_batch
from shared.settings import Settings, load_settings
from shared.settings.stack import ROOT

ROWS_PER_BATCH = 300


def load_handler():
    spec = importlib.util.spec_from_file_location("train_model_handler", ROOT / "functions" / "train-model" / "handler.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def isolate(monkeypatch: pytest.MonkeyPatch, name: str) -> Settings:
    """Settings with this test's own bucket, experiment and registered model."""
    suffix = f"{name}-{uuid.uuid4().hex[:6]}"
    monkeypatch.setenv("BATCH_BUCKET", f"t5-{suffix}")
    monkeypatch.setenv("EXPERIMENT_NAME", f"train-{suffix}")
    monkeypatch.setenv("MODEL_NAME", f"covertype-{suffix}")
    monkeypatch.setenv("BATCH_THRESHOLD", "10")
    return load_settings()


def store_batches(settings: Settings, numbers, rows: int = ROWS_PER_BATCH) -> None:
    for number in numbers:
        store_batch(settings, settings.group_number, number, generate(rows, seed=1000 + number), "test://synthetic")


def minio_event_body(settings: Settings, number: int) -> bytes:
    """What MinIO's webhook target POSTs for one stored batch (key URL-encoded in the record)."""
    key = batch_key(settings, settings.group_number, number)
    record = {
        "eventVersion": "2.0", "eventSource": "minio:s3", "eventName": "s3:ObjectCreated:Put",
        "s3": {"bucket": {"name": settings.batch_bucket},
               "object": {"key": key.replace("/", "%2F").replace("=", "%3D"), "size": 1}},
    }
    return json.dumps({"EventName": "s3:ObjectCreated:Put", "Key": f"{settings.batch_bucket}/{key}",
                       "Records": [record]}).encode()


def webhook_headers(settings: Settings) -> dict[str, str]:
    return {"Authorization": f"Bearer {settings.secret('minio-webhook-token')}", "Content-Type": "application/json"}


def admin_headers(settings: Settings) -> dict[str, str]:
    pair = f"{settings.secret('basic-auth-user')}:{settings.secret('basic-auth-password')}"
    return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}


def event(body: bytes = b"", headers: dict | None = None, method: str = "POST"):
    return SimpleNamespace(body=body, headers=headers or {}, method=method, query={}, path="/")


def call(handler, settings: Settings, body: bytes, headers: dict | None = None) -> tuple[int, dict]:
    response = handler.handle(event(body, webhook_headers(settings) if headers is None else headers), None)
    return response["statusCode"], json.loads(response["body"])
