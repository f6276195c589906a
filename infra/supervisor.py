"""The local stack's services under one supervisord: its configuration, start order, health probes and stop.

`Stack.up` writes supervisord's configuration into the state directory, starts supervisord,
then starts the services in order, waits until each answers its health check and runs its
set-up (infra/bootstrap.py). `Stack.down` stops exactly that supervisord and its children.
Tests use the same `Stack` with a temporary state directory and free ports.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import pymysql

from infra.bootstrap import BOOTSTRAP
from infra.gateway import runtime
from infra.schedule import check_schedules
from infra.secret_files import ensure_secrets
from shared.errors import ConfigError, ServiceUnavailable
from shared.health import CHECKS
from shared.settings import Settings, load_settings
from shared.settings.stack import PORTS, ROOT, StackConfig

# start order; each entry: service, ports it binds, seconds to wait for health
SERVICES: list[tuple[str, tuple[str, ...], float]] = [
    ("mysql", ("mysql",), 60),
    ("minio", ("minio", "minio-console"), 60),
    ("mlflow", ("mlflow",), 600),  # the basic-auth app took 6 min to start on a 2-core machine at load 40
    ("data-api", ("data-api",), 60),  # the course Data API's stand-in (infra/data_api)
    ("nats", ("nats",), 30),  # NATS JetStream, the gateway's async queue
    ("functions", (), 60),  # one supervisord program per replica of each function (infra/gateway/runtime.py)
    ("gateway", ("gateway",), 30),
    ("cron", (), 15),  # OpenFaaS's cron-connector, calling stack.yml's cron-functions through the gateway
    ("prometheus", ("prometheus",), 60),  # scrapes the gateway's /metrics (infra/launch.py writes its config)
    ("ui", ("ui",), 30),
]
NAME_WIDTH = max(len(name) for name, _, _ in SERVICES) + 2  # the first column of progress and status lines


class Stack:
    def __init__(self, config: StackConfig):
        self.config = config
        self.conf_path = config.state_dir / "supervisord.conf"

    # --- settings the services and clients see -------------------------------------------
    def env(self) -> dict[str, str]:
        return {**os.environ, **self.config.service_env()}

    def settings(self) -> Settings:
        return load_settings(self.env())

    # --- supervisord ---------------------------------------------------------------------
    def write_supervisor_conf(self) -> None:
        c = self.config
        c.logs_dir.mkdir(parents=True, exist_ok=True)
        env = ",".join(f'{k}="{v}"' for k, v in sorted(c.service_env().items()))
        lines = [
            "[unix_http_server]", f"file={c.state_dir / 'supervisor.sock'}", "chmod=0700", "",
            "[supervisord]", f"logfile={c.logs_dir / 'supervisord.log'}", f"pidfile={c.state_dir / 'supervisord.pid'}",
            f"childlogdir={c.logs_dir}", "logfile_maxbytes=5MB", "logfile_backups=2", "",
            "[rpcinterface:supervisor]", "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface", "",
            "[supervisorctl]", f"serverurl=unix://{c.state_dir / 'supervisor.sock'}", "",
        ]
        programs = [(name, name) for name, _, _ in SERVICES if name != "functions"] + runtime.function_programs(c)
        for name, launch_args in programs:
            lines += [
                f"[program:{name}]",
                f"command={c.python} -m infra.launch {launch_args}",
                f"directory={ROOT}",
                f"environment={env}",
                "autostart=false", "autorestart=true", "startsecs=2", "startretries=10",
                "stopasgroup=true", "killasgroup=true", "stopwaitsecs=20",
                "redirect_stderr=true", f"stdout_logfile={c.logs_dir / (name + '.log')}",
                "stdout_logfile_maxbytes=10MB", "stdout_logfile_backups=2", "",
            ]
        self.conf_path.write_text("\n".join(lines))

    def ctl(self, *args: str, check: bool = False) -> subprocess.CompletedProcess:
        supervisorctl = Path(self.config.python).parent / "supervisorctl"
        return subprocess.run(
            [str(supervisorctl), "-c", str(self.conf_path), *args], capture_output=True, text=True, check=check
        )

    def supervisor_running(self) -> bool:
        return self.conf_path.exists() and self.ctl("pid").stdout.strip().isdigit()

    def states(self) -> dict[str, str]:
        if not self.supervisor_running():
            return {}
        out = self.ctl("status").stdout
        return {line.split()[0]: line.split()[1] for line in out.splitlines() if line.strip()}

    # --- up / down -----------------------------------------------------------------------
    def up(self, services: Iterable[str] | None = None, progress: Callable[[str], None] = print) -> None:
        wanted = list(services) if services is not None else [name for name, _, _ in SERVICES]
        self.preflight(wanted)
        self.config.state_dir.mkdir(parents=True, exist_ok=True)
        ensure_secrets(self.config)
        if not self.supervisor_running():
            self.write_supervisor_conf()
            supervisord = Path(self.config.python).parent / "supervisord"
            subprocess.run([str(supervisord), "-c", str(self.conf_path)], check=True, cwd=ROOT)
        states = self.states()
        for name, ports, timeout in SERVICES:
            if name not in wanted:
                continue
            members = self.programs(name)
            if any(states.get(member) != "RUNNING" for member in members):
                for port_name in ports:
                    require_free_port(self.config, port_name)
                self.ctl("start", *members)
            self.wait_healthy(name, timeout)
            BOOTSTRAP.get(name, lambda stack: None)(self)
            progress(f"{name:<{NAME_WIDTH}}up    {self.address(name)}")

    def preflight(self, wanted: Iterable[str]) -> None:
        """Settings that would make a service fail quietly refuse the start before anything is written."""
        if "cron" in wanted:
            check_schedules(runtime.read_stack(self.config))

    def down(self) -> None:
        """Stop supervisord and its children, and wait until supervisord has exited."""
        if not self.supervisor_running():
            return
        pid = int(self.ctl("pid").stdout.strip())
        self.ctl("shutdown")
        deadline = time.monotonic() + 90
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)

    def stop(self, name: str) -> None:
        self.ctl("stop", name)

    def start(self, name: str, timeout: float = 120) -> None:
        self.ctl("start", name)
        self.wait_healthy(name, timeout)

    def programs(self, name: str) -> list[str]:
        """The supervisord programs of a service: itself, or each function's wanted replicas for `functions`."""
        if name == "functions":
            return runtime.wanted_programs(self.config)
        return [name]

    def state_of(self, name: str) -> str:
        states = self.states()
        not_running = [states.get(p, "STOPPED") for p in self.programs(name) if states.get(p) != "RUNNING"]
        return not_running[0] if not_running else "RUNNING"

    def address(self, name: str) -> str:
        if name == "functions":
            ports = runtime.function_ports(runtime.read_stack(self.config), self.config.ports["functions"])
            return ", ".join(f"{fn} :{port}" for fn, port in ports.items())
        if name == "cron":
            return f"cron-connector -> {self.config.url('gateway')}"
        if name == "mysql":
            return f"{self.config.host}:{self.config.ports['mysql']} (socket {self.config.mysql_socket})"
        if name == "minio":
            return f"{self.config.url('minio')} (console {self.config.url('minio-console')})"
        if name == "nats":
            return f"nats://{self.config.host}:{self.config.ports['nats']} (store {self.config.state_dir / 'nats'})"
        return self.config.url(name)

    # --- health --------------------------------------------------------------------------
    def wait_healthy(self, name: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.probe(name)
                return
            except ServiceUnavailable as exc:
                state = self.state_of(name)
                if state in ("FATAL", "STOPPED", "EXITED") or time.monotonic() > deadline:
                    log = self.config.logs_dir / f"{name}.log"
                    raise ServiceUnavailable(f"{name} did not become healthy ({state}): {exc.message}; see {log}"
                                             f"{log_tail(log)}") from None
                time.sleep(0.5)

    def probe(self, name: str) -> None:
        PROBES[name](self)

    def root_mysql(self) -> pymysql.connections.Connection:
        import getpass

        return pymysql.connect(unix_socket=str(self.config.mysql_socket), user=getpass.getuser(), connect_timeout=5)


def probe_http(what: str, url: str) -> None:
    """A liveness probe: GET `url` answers 200 within a few seconds."""
    import requests

    try:
        response = requests.get(url, timeout=5)
    except requests.RequestException as exc:
        raise ServiceUnavailable(f"{what} at {url} is not answering ({type(exc).__name__})") from None
    if response.status_code != 200:
        raise ServiceUnavailable(f"{what} at {url} answered {response.status_code}")


def probe_mysql_socket(stack: Stack) -> None:
    """Before bootstrap the pipeline's MySQL user may not exist yet: ask over the socket."""
    try:
        stack.root_mysql().close()
    except pymysql.err.OperationalError as exc:
        raise ServiceUnavailable(f"MySQL socket not ready ({exc.args[0]})") from None


def probe_nats(stack: Stack) -> None:
    import asyncio

    from infra.gateway import natsq

    url = f"nats://{stack.config.host}:{stack.config.ports['nats']}"
    asyncio.run(natsq.check(url, stack.config.secret("nats-password")))


def probe_cron(stack: Stack) -> None:
    if stack.state_of("cron") != "RUNNING":
        raise ServiceUnavailable("cron-connector is not running")


PROBES: dict[str, Callable[[Stack], None]] = {
    "mysql": probe_mysql_socket,
    "minio": lambda stack: CHECKS["minio"](stack.settings()),
    "mlflow": lambda stack: CHECKS["mlflow"](stack.settings()),
    "data-api": lambda stack: probe_http("Data API stand-in", stack.config.url("data-api") + "/"),
    "nats": probe_nats,
    "functions": lambda stack: runtime.probe_functions(stack.config),
    "gateway": lambda stack: probe_http("gateway", stack.config.url("gateway") + "/healthz"),
    "cron": probe_cron,
    "prometheus": lambda stack: probe_http("Prometheus", stack.config.url("prometheus") + "/-/ready"),
    "ui": lambda stack: probe_http("UI", stack.config.url("ui") + "/"),
}


def log_tail(log: Path, lines: int = 8) -> str:
    """The last lines of a service's log, indented under the error, or nothing when it wrote none."""
    if not log.exists():
        return ""
    last = log.read_text(errors="replace").splitlines()[-lines:]
    return "".join(f"\n    {line}" for line in last)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def require_free_port(config: StackConfig, port_name: str) -> None:
    port = config.ports[port_name]
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((config.host, port))
        except OSError:
            var = PORTS[port_name][0]
            raise ConfigError(
                f"port {port} for {port_name} ({var}) is already in use on {config.host}: "
                f"stop what holds it or set {var} to a free port"
            ) from None
