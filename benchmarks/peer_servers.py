"""The serving peers `make bench` puts beside predict: mlflow models serve, Seldon MLServer, BentoML.

Each serves the same champion on 127.0.0.1 and is described by a `Served`: its URL, how it
wants records, its process (for resident memory) and its cold start. MLServer and
BentoML pin versions that clash with ours, so each runs from a virtualenv of its own
under `.bench/`, built on first use from `benchmarks/peers/<name>.txt` (the one place
their versions are pinned) and rebuilt when that file changes.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import orjson
import requests

from shared.schema import CATEGORIES, FEATURES
from tests.conftest import free_port
from tests.predict_support import ROOT
from tests.process_support import stop_process

PEERS_DIR = Path(__file__).resolve().parent / "peers"
VENVS = ROOT / ".bench"
START_TIMEOUT = 180.0  # seconds; cold starts here took 2-30 s on the shared machine
JSON = {"Content-Type": "application/json"}
WORKER_FAILURE = "There is no current event loop"  # MLServer's parallel workers, here (see mlserver())


@dataclass
class Served:
    name: str
    url: str
    encode: Callable[[list[dict]], bytes]  # records -> the request body this server expects
    pid: int  # the process whose tree holds the server, for resident memory
    cold: float | None = None  # seconds from launch to the first answer
    note: str = ""


def first_answer_seconds(began: float, url: str, body: bytes, proc: subprocess.Popen | None = None,
                         timeout: float = START_TIMEOUT, failed: Callable[[], bool] = lambda: False) -> float:
    while time.perf_counter() - began < timeout:
        if (proc is not None and proc.poll() is not None) or failed():
            raise RuntimeError(f"{url}: the server failed before answering")
        try:
            if requests.post(url, data=body, headers=JSON, timeout=30).status_code == 200:
                return time.perf_counter() - began
        except (requests.ConnectionError, requests.Timeout):  # not listening yet, or still loading
            pass
        time.sleep(0.02)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


@contextmanager
def process(command: list[str], env: dict[str, str], log_path: Path, cwd: Path | None = None) -> Iterator:
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=cwd)
    try:
        yield proc
    finally:
        stop_process(proc, grace=20)


def peer_bin(name: str, progress: Callable[[str], None] = print) -> Path:
    """The bin folder of `.bench/<name>`, with `benchmarks/peers/<name>.txt` installed (pip, PyPI)."""
    pins = PEERS_DIR / f"{name}.txt"
    venv = VENVS / name
    marker = venv / "pins.sha256"
    digest = hashlib.sha256(pins.read_bytes()).hexdigest()
    python = venv / "bin" / "python"
    if python.exists() and marker.exists() and marker.read_text() == digest:
        return python.parent
    progress(f"building {venv} from {pins.relative_to(ROOT)} (once; a few minutes)")
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q", "-r", str(pins)],
                   check=True)
    marker.write_text(digest)
    return python.parent


def quiet_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """A peer's environment: ours less PYTHONPATH (its own site-packages only), no telemetry."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env.update(DO_NOT_TRACK="true", BENTOML_DO_NOT_TRACK="true", MLFLOW_DISABLE_TELEMETRY="true")
    env.update(extra or {})
    return env


# --- the request bodies each protocol takes ---

def encode_ours(records: list[dict]) -> bytes:
    return orjson.dumps(records[0] if len(records) == 1 else {"instances": records})


def encode_mlflow(records: list[dict]) -> bytes:
    return orjson.dumps({"dataframe_records": records})


def encode_bentoml(records: list[dict]) -> bytes:
    return orjson.dumps({"instances": records})


def encode_v2(records: list[dict]) -> bytes:
    """Open Inference Protocol (V2), one input per column, decoded by MLServer's pandas codec."""
    return orjson.dumps({
        "parameters": {"content_type": "pd"},
        "inputs": [{"name": name, "datatype": "BYTES" if name in CATEGORIES else "FP64", "shape": [len(records)],
                    "data": [record[name] for record in records]} for name in FEATURES],
        "outputs": [{"name": "predict_proba"}],
    })


# --- the peers ---

@contextmanager
def mlflow_serve(model_uri: str, env: dict[str, str], workdir: Path, probe: list[dict]) -> Iterator[Served]:
    port = free_port()
    bin_dir = Path(sys.executable).parent
    command = [str(bin_dir / "mlflow"), "models", "serve", "-m", model_uri, "--env-manager", "local",
               "--host", "127.0.0.1", "--port", str(port)]
    path = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"  # it execs uvicorn by name
    began = time.perf_counter()
    with process(command, {**os.environ, **env, "PATH": path}, workdir / "mlflow-serve.log") as proc:
        url = f"http://127.0.0.1:{port}/invocations"
        cold = first_answer_seconds(began, url, encode_mlflow(probe), proc)
        yield Served("mlflow serve", url, encode_mlflow, proc.pid, cold)


@contextmanager
def mlserver(model_file: Path, workdir: Path, probe: list[dict]) -> Iterator[Served]:
    """MLServer's scikit-learn runtime, parallel workers as it defaults to; in-process if they fail to start."""
    bin_dir = peer_bin("mlserver")
    repository = workdir / "mlserver"
    repository.mkdir(exist_ok=True)
    (repository / "model.joblib").symlink_to(model_file)
    (repository / "model-settings.json").write_text(json.dumps({
        "name": "covertype", "implementation": "mlserver_sklearn.SKLearnModel",
        "parameters": {"uri": "./model.joblib"},
    }))
    note = ""
    for workers in (None, 0):  # None: MLServer's default pool of parallel workers
        ports = {"http_port": free_port(), "grpc_port": free_port(), "metrics_port": free_port()}
        settings = {"host": "127.0.0.1", "debug": False, **ports}  # debug off: no access log line per request
        if workers is not None:
            settings["parallel_workers"] = workers
        (repository / "settings.json").write_text(json.dumps(settings))
        log_path = workdir / f"mlserver-{'default' if workers is None else workers}.log"
        url = f"http://127.0.0.1:{ports['http_port']}/v2/models/covertype/infer"
        began = time.perf_counter()
        command = [str(bin_dir / "mlserver"), "start", str(repository)]
        with process(command, quiet_env(), log_path, cwd=repository) as proc:
            try:
                cold = first_answer_seconds(began, url, encode_v2(probe), proc,
                                            failed=lambda log=log_path: WORKER_FAILURE in log.read_text(errors="replace"))
            except RuntimeError:
                note = f"parallel workers failed to start ({_last_error(log_path)}); measured in-process " \
                       "(parallel_workers=0)"
                continue
            yield Served("MLServer", url, encode_v2, proc.pid, cold, note or "parallel workers (its default)")
            return
    raise RuntimeError(f"MLServer did not start; see {workdir}")


@contextmanager
def bentoml(model_file: Path, workdir: Path, probe: list[dict]) -> Iterator[Served]:
    bin_dir = peer_bin("bentoml")
    port = free_port()
    env = quiet_env({"BENCH_MODEL_FILE": str(model_file), "BENTOML_HOME": str(workdir / "bentoml-home")})
    command = [str(bin_dir / "bentoml"), "serve", "bento_service:Covertype", "--host", "127.0.0.1",
               "--port", str(port), "--working-dir", str(PEERS_DIR)]
    began = time.perf_counter()
    with process(command, env, workdir / "bentoml.log", cwd=PEERS_DIR) as proc:
        url = f"http://127.0.0.1:{port}/predict"
        cold = first_answer_seconds(began, url, encode_bentoml(probe), proc)
        yield Served("BentoML", url, encode_bentoml, proc.pid, cold, "one worker, sync API (its defaults)")


def _last_error(log_path: Path) -> str:
    lines = [line for line in log_path.read_text(errors="replace").splitlines() if "Error:" in line]
    return lines[-1].strip() if lines else "see " + str(log_path)


# --- resident memory of a process and everything it started ---

def tree_rss_mb(pid: int) -> float:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        stack.extend(children.get(current, []))
        try:
            status = Path(f"/proc/{current}/status").read_text()
        except OSError:
            continue
        total += next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
    return total / 1024


def listener_pid(port: int) -> int:
    """The process listening on 127.0.0.1:`port` (ours run under supervisord)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1].endswith(f":{port:04X}") and fields[3] == "0A":
            inodes.add(f"socket:[{fields[9]}]")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if any(os.readlink(fd) in inodes for fd in (entry / "fd").iterdir()):
                return int(entry.name)
        except OSError:
            continue
    raise LookupError(f"nothing listens on port {port}")

