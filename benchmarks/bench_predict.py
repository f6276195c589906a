"""Predict against the serving peers a user would pick, side by side on the same champion.

Run with `make bench`. Five servers: ours through the gateway (`/function/predict`, what
users call, and what the goals are about), ours at the function process directly (the
python3-http template, Flask + waitress; the gateway's cost is the difference), `mlflow
models serve`, Seldon MLServer (scikit-learn runtime, V2 protocol with the pandas codec)
and BentoML (benchmarks/peers/bento_service.py). Beside them, two yardstick proxies in
front of the same function process (benchmarks/floor_proxies.py), so that the gateway's
cost can be read against what one hop costs on this machine: Go's standard reverse proxy
and a bare httptools one. Same champion, same records, same load generator; the sides
are taken in turn for every figure, so each meets the same bursts of other work on a
shared machine. Bounded: a few hundred requests per figure, a time cap on each share.
"""

from __future__ import annotations

import os
import platform
import statistics
import threading
import time
from contextlib import ExitStack
from datetime import UTC, datetime

import joblib
import pandas as pd
import pytest
import requests

from benchmarks.floor_proxies import floor_proxy
from benchmarks.peer_servers import (
    JSON,
    Served,
    bentoml,
    encode_ours,
    first_answer_seconds,
    listener_pid,
    mlflow_serve,
    mlserver,
    tree_rss_mb,
)
from infra.gateway.runtime import read_stack
from infra.gateway.stackfile import function_ports
from shared.schema import FEATURES
from tests.conftest import running_stack
from tests.predict_support import predict_process, register_model, sample_records
from tests.process_support import cpu_seconds

pytestmark = pytest.mark.bench

MODEL = "covertype-classifier"  # the name stack.yml gives predict; the bench stack is its own
TIME_CAP = 12.0  # seconds per server's share of one load figure at most
LEVELS = {"c1": (1, 600), "c8": (8, 80), "c32": (32, 25)}  # concurrency, requests per worker
ROUNDS = 6  # shares per server of each load figure, the servers in turn (2 left c=1 to one noisy share)
PEERS = ("mlflow serve", "MLServer", "BentoML")
HOPS = {"Go hop": "go", "httptools hop": "httptools"}  # yardsticks: a proxy that does the hop and nothing else
PROXIES = ("via gateway", *HOPS)
CHAMPION_FAMILY = "hist_gradient_boosting"  # the family our trainings crown on the stand-in's data


@pytest.fixture(scope="module")
def bench_stack(tmp_path_factory):
    with running_stack(tmp_path_factory.mktemp("bench-stack")) as started:
        yield started


@pytest.fixture(scope="module")
def champion_pipeline(bench_stack):
    """A champion as the pipeline makes it: trained by shared.training on two batches' worth of rows."""
    from infra.data_api.synthetic import generate
    from shared.dataset import frame_from_rows
    from shared.training import prepare, train_candidate

    candidate = train_candidate(CHAMPION_FAMILY, prepare(frame_from_rows(generate(11620, seed=6))))
    tracking_uri = bench_stack.config.service_env()["MLFLOW_TRACKING_URI"]
    return register_model(tracking_uri, MODEL, family=CHAMPION_FAMILY, pipeline=candidate.pipeline)[1]


def load(url: str, bodies: list[bytes], concurrency: int, per_worker: int) -> tuple[list[float], int, float]:
    """Each worker sends `per_worker` requests back to back: (latencies in ms, failures, elapsed s)."""
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()
    deadline = time.perf_counter() + TIME_CAP

    def worker(offset: int) -> None:
        with requests.Session() as session:
            for i in range(per_worker):
                if time.perf_counter() > deadline:
                    return
                body = bodies[(offset + i) % len(bodies)]
                began = time.perf_counter()
                try:
                    ok = session.post(url, data=body, headers=JSON, timeout=30).status_code == 200
                except requests.RequestException:  # a timeout or reset is a failure too, not a lost worker
                    ok = False
                took = (time.perf_counter() - began) * 1000
                with lock:
                    latencies.append(took)
                    failures[0] += not ok

    threads = [threading.Thread(target=worker, args=(n * 7,)) for n in range(concurrency)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, failures[0], time.perf_counter() - began


def measure_in_turn(servers: list[Served]) -> tuple[dict, dict[str, float]]:
    """Every load figure of every server, in ROUNDS shares, the servers in turn; and each
    proxy's CPU seconds per proxied call over all its shares."""
    singles = {s.name: [s.encode([record]) for record in sample_records(64, seed=1)] for s in servers}
    for server in servers:
        load(server.url, singles[server.name], 4, 20)  # warm up
    figures: dict[str, dict] = {s.name: {} for s in servers}
    proxy_cpu = {name: [0.0, 0] for name in PROXIES}  # seconds, calls
    for level, (concurrency, per_worker) in LEVELS.items():
        shares: dict[str, list] = {s.name: [[], 0, 0.0] for s in servers}
        for _ in range(ROUNDS):
            for server in servers:
                before = cpu_seconds(server.pid)
                latencies, failures, elapsed = load(server.url, singles[server.name], concurrency,
                                                    per_worker // ROUNDS)
                if server.name in proxy_cpu:
                    proxy_cpu[server.name][0] += cpu_seconds(server.pid) - before
                    proxy_cpu[server.name][1] += len(latencies)
                share = shares[server.name]
                share[0] += latencies
                share[1] += failures
                share[2] += elapsed
        for name, (latencies, failures, elapsed) in shares.items():
            latencies.sort()
            figures[name][level] = {
                "n": len(latencies), "failures": failures, "rps": len(latencies) / elapsed,
                "p50": statistics.median(latencies),
                "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
            }
    return figures, {name: seconds / max(calls, 1) for name, (seconds, calls) in proxy_cpu.items()}


def interleaved_medians(calls: dict, rounds: int = 7, per_round: int = 3) -> dict[str, float]:
    """Median seconds per call, the sides taken in turn, `per_round` timed calls each after an
    untimed one: every side meets the same bursts of other work on this shared 2-core machine
    (one burst moved a mean of a few calls by half), and none is timed while the previous
    side's OpenMP workers still spin-wait on a core."""
    timings: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            call()
            for _ in range(per_round):
                began = time.perf_counter()
                call()
                timings[name].append(time.perf_counter() - began)
    return {name: statistics.median(values) for name, values in timings.items()}


def poster(session: requests.Session, url: str, body: bytes):
    def call():
        response = session.post(url, data=body, headers=JSON, timeout=60)
        assert response.status_code == 200, response.text[:300]

    return call


def replica_figures(stack, url: str) -> str:
    """Predict at 1 and 2 replicas under c=32 through the gateway, scaled with the OpenFaaS
    scale API (`POST /system/scale-function/predict`; each replica a supervisord program).
    A gateway without that API is said to be so, not measured."""
    auth = (stack.config.secret("basic-auth-user"), stack.config.secret("basic-auth-password"))
    system = stack.config.url("gateway") + "/system"

    def scale(replicas: int) -> bool:
        response = requests.post(f"{system}/scale-function/predict", auth=auth, timeout=30,
                                 json={"serviceName": "predict", "replicas": replicas})
        if response.status_code in (404, 405):
            return False
        response.raise_for_status()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            status = requests.get(f"{system}/function/predict", auth=auth, timeout=10).json()
            if status.get("availableReplicas") == replicas:
                return True
            time.sleep(0.5)
        raise TimeoutError(f"predict did not reach {replicas} available replicas within 120 s")

    if not scale(1):
        return "replicas: not measured, the gateway has no /system/scale-function yet (gateway-api work)"
    singles = [encode_ours([record]) for record in sample_records(64, seed=1)]
    results = {}
    try:
        for replicas in (1, 2, 1, 2):  # in turn, as everything else here
            scale(replicas)
            load(url, singles, 4, 10)
            latencies, _, elapsed = load(url, singles, 32, 25)
            results.setdefault(replicas, []).append((len(latencies) / elapsed, sorted(latencies)))
    finally:
        scale(1)
    lines = []
    for replicas, runs in results.items():
        rps = statistics.median(r for r, _ in runs)
        p99 = statistics.median(lat[min(len(lat) - 1, int(len(lat) * 0.99))] for _, lat in runs)
        lines.append(f"c32 via gateway at {replicas} replica(s): {rps:.1f} req/s, p99 {p99:.1f} ms")
    return "\n".join(lines)


def print_proxy_costs(figures: dict, proxy_cpu: dict[str, float]) -> None:
    """The gateway's cost against the function directly, and beside it what the yardstick hops cost."""
    direct = figures["direct"]

    def added(name: str) -> float:
        return figures[name]["c1"]["p50"] - direct["c1"]["p50"]

    def share(name: str) -> float:
        return figures[name]["c8"]["rps"] / direct["c8"]["rps"]

    def met(ok: bool) -> str:
        return "met" if ok else "missed"

    print("the gateway's cost (through it against the same function process directly), and the hop alone:")
    print(f"  c=1 p50          {added('via gateway'):+.2f} ms (goal <= +0.5: {met(added('via gateway') <= 0.5)}); "
          + ", ".join(f"{name} {added(name):+.2f}" for name in HOPS))
    print(f"  c=8 throughput   {share('via gateway'):.1%} of direct (goal >= 90%: {met(share('via gateway') >= 0.9)}); "
          + ", ".join(f"{name} {share(name):.1%}" for name in HOPS))
    print(f"  CPU per proxied call {proxy_cpu['via gateway'] * 1e6:.0f} us; "
          + ", ".join(f"{name} {proxy_cpu[name] * 1e6:.0f}" for name in HOPS))


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
                 platform.machine())
    return f"{platform.node()}, {os.cpu_count()} cores ({model}), load average {os.getloadavg()[0]:.1f}"


def test_bench_predict_against_the_peers(bench_stack, champion_pipeline, tmp_path):
    env = bench_stack.config.service_env()
    probe = sample_records(1)
    deployed = read_stack(bench_stack.config).functions["predict"].environment  # its threads and spin-wait too
    began = time.perf_counter()
    with predict_process({**deployed, **env, "MODEL_NAME": MODEL}, tmp_path / "cold-predict.log") as fresh:
        cold = first_answer_seconds(began, fresh, encode_ours(probe))  # a fresh process: loads from the registry

    bench_stack.up(["nats", "functions", "gateway"], progress=lambda line: None)
    function_port = function_ports(read_stack(bench_stack.config), bench_stack.config.ports["functions"])["predict"]
    gateway_url = f"{bench_stack.config.url('gateway')}/function/predict"
    first_answer_seconds(time.perf_counter(), gateway_url, encode_ours(probe))
    function_pid = listener_pid(function_port)
    gateway_pid = int(bench_stack.ctl("pid", "gateway").stdout)
    ours = [Served("via gateway", gateway_url, encode_ours, gateway_pid),
            Served("direct", f"http://127.0.0.1:{function_port}", encode_ours, function_pid, cold)]
    model_file = tmp_path / "model.joblib"
    joblib.dump(champion_pipeline, model_file)
    load_before = os.getloadavg()[0]

    with ExitStack() as running, requests.Session() as session:
        peers = [running.enter_context(mlflow_serve(f"models:/{MODEL}@champion", env, tmp_path, probe)),
                 running.enter_context(mlserver(model_file, tmp_path, probe)),
                 running.enter_context(bentoml(model_file, tmp_path, probe))]
        hops = []
        for name, kind in HOPS.items():
            base, pid = running.enter_context(floor_proxy(kind, function_port))
            hops.append(Served(name, f"{base}/function/predict", encode_ours, pid))
        servers = ours + peers + hops
        figures, proxy_cpu = measure_in_turn(servers)
        batch = sample_records(1000, seed=2)
        batch_frame = pd.DataFrame(batch, columns=list(FEATURES))
        calls = {s.name: poster(session, s.url, s.encode(batch)) for s in servers}
        seconds = interleaved_medians({**calls, "in-process": lambda: champion_pipeline.predict_proba(batch_frame)})
        memory = {s.name: tree_rss_mb(s.pid) for s in servers}
        for name in PROXIES:
            memory[name] += memory["direct"]  # the proxy and the function it calls
        replicas = replica_figures(bench_stack, gateway_url)
    rows = {name: len(batch) / value for name, value in seconds.items()}

    names = [s.name for s in servers]
    print(f"\n\npredict against the serving peers, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, on {machine()} "
          f"(at the start {load_before:.1f})")
    print(f"{'':22}" + "".join(f"{name:>14}" for name in names))
    print(f"{'cold start s':22}" + "".join(f"{'' if s.cold is None else f'{s.cold:.2f}':>14}" for s in servers))
    for level in LEVELS:
        for key, unit in (("p50", "ms"), ("p99", "ms"), ("rps", "req/s")):
            print(f"{level + ' ' + key + ' ' + unit:22}" + "".join(f"{figures[n][level][key]:>14.1f}" for n in names))
    print(f"{'1000-row batch rows/s':22}" + "".join(f"{rows[n]:>14.0f}" for n in names))
    print(f"{'resident MB':22}" + "".join(f"{memory[n]:>14.0f}" for n in names))
    for server in peers:
        print(f"{server.name}: {server.note or 'its defaults'}")
    print("via gateway and the hops: resident MB is the proxy's and the function's; cold start is the function's "
          "(direct)")
    print(f"in-process predict_proba, 1000 rows: {rows['in-process']:.0f} rows/s")
    print(f"(load figures in {ROUNDS} shares per server, 1000-row figures medians of 21 calls; the servers in turn)")

    ours_gw = figures["via gateway"]
    best_rps = max(PEERS, key=lambda n: figures[n]["c8"]["rps"])
    best_p99 = min(PEERS, key=lambda n: figures[n]["c1"]["p99"])
    best_rows = max(PEERS, key=lambda n: rows[n])
    print("ratios, ours through the gateway against the best peer:")
    print(f"  c=8 throughput   {ours_gw['c8']['rps'] / figures[best_rps]['c8']['rps']:.2f}x {best_rps} (goal >= 3)")
    print(f"  c=1 p99          {ours_gw['c1']['p99'] / figures[best_p99]['c1']['p99']:.2f} of {best_p99}'s "
          "(goal <= 0.33)")
    print(f"  1000-row batch   {rows['via gateway'] / rows[best_rows]:.2f}x {best_rows} (goal >= 1.5)")
    print_proxy_costs(figures, proxy_cpu)
    print(replicas)
    failures = {f"{name} {level}": figures[name][level]["failures"] for name in names for level in LEVELS}
    assert not any(failures.values()), failures
