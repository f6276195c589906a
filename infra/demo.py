"""`make demo`: the whole pipeline from an empty state to a serving champion, in minutes.

The system is the one `make up` runs, with a compressed cadence: the cron fires
fetch-batch every DEMO_SCHEDULE (default 5 s) and the Data API stand-in advances its
batch every DEMO_BATCH_PERIOD seconds (default 8) instead of every 5 minutes. The
demo keeps its state in its own directory (DEMO_STATE_DIR, default `.state-demo`),
emptied at start, so it never touches the state of `make up`; it refuses to start while
`make up`'s stack runs (same ports). It prints progress until the champion answers a
prediction through the gateway, then leaves the system running; if it fails, it stops
everything it started.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable

import requests

from infra import running
from infra.supervisor import NAME_WIDTH, Stack
from shared.batches import list_batches
from shared.errors import PipelineError
from shared.registry import NoChampion, Registry
from shared.settings import Settings
from shared.settings.stack import load_stack_config

SAMPLE = {
    "Elevation": "2596", "Aspect": "51", "Slope": "3", "Horizontal_Distance_To_Hydrology": "258",
    "Vertical_Distance_To_Hydrology": "0", "Horizontal_Distance_To_Roadways": "510", "Hillshade_9am": "221",
    "Hillshade_Noon": "232", "Hillshade_3pm": "148", "Horizontal_Distance_To_Fire_Points": "6279",
    "Wilderness_Area": "Rawah", "Soil_Type": "C7745",
}


def demo_environment(env: dict[str, str]) -> dict[str, str]:
    """The compressed cadence, unless the caller chose its own."""
    return {
        "FETCH_SCHEDULE": env.get("DEMO_SCHEDULE", "@every 5s"),
        "DATA_API_BATCH_PERIOD": env.get("DEMO_BATCH_PERIOD", "8"),
        "STATE_DIR": str(running.state_dirs(env)["demo"]),
    }


def champion_version(settings: Settings) -> str | None:
    try:
        return Registry(settings).resolve(settings.model_name, settings.model_alias).version
    except NoChampion:
        return None


def predict_through_gateway(gateway_url: str, timeout: float) -> dict | None:
    try:
        response = requests.post(f"{gateway_url}/function/predict", json=SAMPLE, timeout=timeout)
    except requests.RequestException:
        return None
    return response.json() if response.status_code == 200 else None


def watch(stack: Stack, deadline: float, say: Callable[[str], None]) -> dict:
    """Print each change of progress; return the first prediction the champion answers."""
    settings = stack.settings()
    gateway = stack.config.url("gateway")
    last = ""
    while time.monotonic() < deadline:
        try:
            stored = len(list_batches(settings, settings.group_number))
            version = champion_version(settings) if stored >= settings.batch_threshold else None
        except PipelineError as exc:
            stored, version = -1, None
            line = f"{'waiting':<{NAME_WIDTH}}{exc.message}"
        else:
            stage = "collecting" if stored < settings.batch_threshold else "training"
            progress = f"{stored}/{settings.batch_threshold}"
            line = f"{'batches':<{NAME_WIDTH}}{progress:<6}{stage}" if not version else \
                f"{'champion':<{NAME_WIDTH}}v{version}"
        if line != last:
            say(line)
            last = line
        if version:
            answer = predict_through_gateway(gateway, settings.http_timeout)
            if answer:
                return answer
        time.sleep(2)
    raise TimeoutError("the demo did not reach a serving champion in time; see the logs under " + str(stack.config.logs_dir))


def main() -> int:
    try:
        running.refuse_beside("demo")
    except PipelineError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    os.environ.update(demo_environment(dict(os.environ)))
    config = load_stack_config()
    started = time.monotonic()

    def say(line: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {line}", flush=True)

    stack = Stack(config)
    stack.down()
    if config.state_dir.exists():
        shutil.rmtree(config.state_dir)
    say(f"empty state in {running.shown(config.state_dir)}; cron {os.environ['FETCH_SCHEDULE']}, "
        f"batch period {os.environ['DATA_API_BATCH_PERIOD']} s")
    config.state_dir.mkdir(parents=True)
    running.record(stack, "demo")  # from now on `make status` and `make down` find the demo
    try:
        stack.up(progress=say)
        answer = watch(stack, time.monotonic() + config.demo_timeout, say)
    except (PipelineError, TimeoutError, KeyboardInterrupt) as exc:
        stack.down()  # a failed demo leaves nothing running
        reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else getattr(exc, "message", exc)
        print(f"error: {reason}; the demo's stack is stopped (logs: {config.logs_dir})", file=sys.stderr)
        return 1
    prediction, model = answer["predictions"][0], answer["model"]
    say(f"predict answered {prediction['label']!r} (cover type {prediction['cover_type']}) "
        f"with {model['family']} version {model['version']}")
    say(f"from an empty state to a serving champion in {time.monotonic() - started:.0f} s")
    print(f"\n  UI       {config.url('ui')}\n  gateway  {config.url('gateway')}/function/predict\n"
          f"  MLflow   {config.url('mlflow')}\n  MinIO    {config.url('minio-console')} (login: make -s env)\n"
          "The demo keeps running: `make status` and the README's examples talk to it; stop it with "
          "`make demo-down` (or `make down`).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
