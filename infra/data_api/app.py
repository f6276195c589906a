"""The stand-in's HTTP API, a FastAPI app like the real one (same 422 validation shape)."""

from __future__ import annotations

import random
import threading
import time

import orjson
from fastapi import FastAPI, HTTPException
from fastapi.responses import Response

from infra.data_api.source import DataSource, csv_source, synthetic_source
from infra.data_api.state import MAX_BATCHES, BatchClock
from shared.settings.data_api import DataApiConfig

INVALID_GROUP = "Número de grupo inválido"
ALL_COLLECTED = "Ya se recolectó toda la información minima necesaria"
GROUPS = range(1, 11)


def create_app(config: DataApiConfig, source: DataSource | None = None, clock=time.time) -> FastAPI:
    """The app; `source` defaults to the configured CSV or synthetic data, `clock` to wall time."""
    source = source or (csv_source(config.csv_path) if config.csv_path else synthetic_source(config.synthetic_rows, config.seed))
    batches = BatchClock(config.state_file, config.batch_period, MAX_BATCHES)
    sampler = random.Random()  # samples differ per call and per run, like the real API's; the data is seeded
    sampler_lock = threading.Lock()
    app = FastAPI(title="Covertype Data API (stand-in)")

    def check_group(group_number: int) -> None:
        if group_number not in GROUPS:
            raise HTTPException(status_code=400, detail=INVALID_GROUP)

    @app.get("/")
    def root() -> dict:
        return {"message": "Covertype Data API (stand-in): GET /data?group_number=G", "source": source_name(config)}

    @app.get("/data")
    def data(group_number: int) -> Response:
        check_group(group_number)
        batch = batches.next_batch(group_number, clock())
        if batch is None:
            raise HTTPException(status_code=400, detail=ALL_COLLECTED)
        part = source.part_for_group(group_number)
        with sampler_lock:
            rows = sampler.sample(part, source.sample_size)
        body = {"group_number": group_number, "batch_number": batch, "data": rows}
        return Response(orjson.dumps(body), media_type="application/json")

    @app.get("/restart_data_generation")
    def restart(group_number: int) -> dict:
        check_group(group_number)
        batches.restart(group_number)
        return {"ok": True}

    return app


def source_name(config: DataApiConfig) -> str:
    return f"csv:{config.csv_path.name}" if config.csv_path else f"synthetic(seed={config.seed}, rows={config.synthetic_rows})"
