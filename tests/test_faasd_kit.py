"""The deployment files, checked offline: stack.yml and the faasd kit parse, substitution
works, and every secret and setting they name is one the code actually reads."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from infra.gateway.stackfile import load_stack_file, template_dir
from infra.secret_files import SECRET_DEFAULTS
from shared.settings.stack import ROOT

STACK_FILE = ROOT / "stack.yml"
KIT = ROOT / "infra" / "faasd"
# consumed by of-watchdog in the container (and exec_timeout by our gateway locally)
WATCHDOG_SETTINGS = {"read_timeout", "write_timeout", "exec_timeout"}
# read by libraries, not by our code: OpenMP's thread count and spin-wait, mlflow's telemetry switch
LIBRARY_SETTINGS = {"OMP_NUM_THREADS", "GOMP_SPINCOUNT", "MLFLOW_DISABLE_TELEMETRY"}
FUNCTIONS = ("fetch-batch", "train-model", "predict")


@pytest.fixture(scope="module")
def stack():
    return load_stack_file(STACK_FILE, {})


def python_sources(*folders: Path) -> str:
    return "\n".join(p.read_text() for folder in folders if folder.exists() for p in sorted(folder.rglob("*.py")))


def test_stack_defines_the_three_functions_on_the_projects_template(stack):
    assert tuple(stack.functions) == FUNCTIONS
    for function in stack.functions.values():
        assert function.lang == "python3-http-debian"
        assert (template_dir(stack, function) / "index.py").is_file()
        assert function.handler == (ROOT / "functions" / function.name)
    assert stack.copy == ("./shared",)
    template = ROOT / "template" / "python3-http-debian"
    assert yaml.safe_load((template / "template.yml").read_text())["language"] == "python3-http-debian"
    dockerfile = (template / "Dockerfile").read_text()
    for name in ("index.py", "requirements.txt", "function/"):
        assert name in dockerfile


def test_fetch_batch_is_scheduled_with_an_overridable_default(stack):
    annotations = stack.functions["fetch-batch"].annotations
    assert annotations == {"topic": "cron-function", "schedule": "*/5 * * * *"}
    demo = load_stack_file(STACK_FILE, {"FETCH_SCHEDULE": "@every 10s"})
    assert demo.functions["fetch-batch"].annotations["schedule"] == "@every 10s"


def test_registry_and_tag_are_substituted(stack):
    assert stack.functions["predict"].image == "ghcr.io/covertype-pipeline/predict:latest"
    custom = load_stack_file(STACK_FILE, {"REGISTRY": "registry.example:5000/team", "TAG": "abc123"})
    assert {f.image for f in custom.functions.values()} == {
        f"registry.example:5000/team/{name}:abc123" for name in FUNCTIONS
    }


def test_settings_default_to_faasd_addresses_and_follow_the_environment(stack):
    assert stack.functions["train-model"].environment["MLFLOW_TRACKING_URI"] == "http://10.62.0.1:5000"
    local = load_stack_file(STACK_FILE, {"MLFLOW_TRACKING_URI": "http://127.0.0.1:15000", "GROUP_NUMBER": "3"})
    assert local.functions["train-model"].environment["MLFLOW_TRACKING_URI"] == "http://127.0.0.1:15000"
    assert local.functions["fetch-batch"].environment["GROUP_NUMBER"] == "3"


def test_train_model_has_long_timeouts(stack):
    assert stack.functions["train-model"].timeout >= 300
    for name in ("read_timeout", "write_timeout", "exec_timeout"):
        assert stack.functions["train-model"].environment[name] == "10m"


def test_no_credentials_in_the_environment(stack):
    for function in stack.functions.values():
        for key in function.environment:
            assert not re.search(r"PASSWORD|SECRET|TOKEN|ACCESS_KEY", key), f"{function.name}: {key} belongs in secrets"


@pytest.mark.parametrize("name", FUNCTIONS)
def test_every_setting_a_function_gets_is_read_by_the_code(stack, name):
    function = stack.functions[name]
    code = python_sources(ROOT / "shared", function.handler) + (template_dir(stack, function) / "index.py").read_text()
    unread = [
        key for key in function.environment
        if key not in WATCHDOG_SETTINGS | LIBRARY_SETTINGS and f'"{key}"' not in code
    ]
    assert unread == [], f"{name} is given settings no code reads: {unread}"


@pytest.mark.parametrize("name", FUNCTIONS)
def test_every_secret_a_function_declares_is_read_by_the_code(stack, name):
    function = stack.functions[name]
    if not (function.handler / "handler.py").is_file():
        pytest.skip(f"{name} has no handler yet")
    code = python_sources(ROOT / "shared", function.handler)
    unread = [secret for secret in function.secrets if f'"{secret}"' not in code]
    assert unread == [], f"{name} declares secrets no code reads: {unread}"


def test_secrets_are_ones_the_local_stack_generates(stack):
    declared = {s for f in stack.functions.values() for s in f.secrets}
    assert declared <= set(SECRET_DEFAULTS)


def test_secrets_script_creates_exactly_the_declared_function_secrets(stack):
    script = (KIT / "secrets.sh").read_text()
    created = set(re.search(r'FUNCTION_SECRETS="([^"]+)"', script).group(1).split())
    assert created == {s for f in stack.functions.values() for s in f.secrets}


def test_compose_fragment_adds_the_three_services():
    compose = yaml.safe_load((KIT / "docker-compose.pipeline.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"mysql", "minio", "mlflow"}
    for service in services.values():
        assert service["image"].count(":") >= 1 and not service["image"].endswith(":latest")
        for volume in service.get("volumes", []):
            if volume["target"].startswith("/run/secrets/"):
                assert Path(volume["source"]).name in SECRET_DEFAULTS
        for port in service.get("ports", []):
            assert not port.startswith("0.0.0.0") and port.count(":") == 2  # never published publicly


def test_minio_webhook_points_at_train_model_through_the_gateway(stack):
    minio = yaml.safe_load((KIT / "docker-compose.pipeline.yaml").read_text())["services"]["minio"]
    env = dict(item.split("=", 1) for item in minio["environment"])
    endpoint = env["MINIO_NOTIFY_WEBHOOK_ENDPOINT_PIPELINE"]
    assert endpoint == "http://gateway:8080/async-function/train-model"
    assert endpoint.rsplit("/", 1)[1] in stack.functions
    assert "MINIO_NOTIFY_WEBHOOK_QUEUE_DIR_PIPELINE" in env  # events wait out a gateway outage
    secrets_script = (KIT / "secrets.sh").read_text()
    assert "MINIO_NOTIFY_WEBHOOK_AUTH_TOKEN_PIPELINE=$(cat \"$SECRETS/minio-webhook-token\")" in secrets_script


def test_readme_walks_from_faasd_install_to_faas_cli_up():
    readme = (KIT / "README.md").read_text()
    steps = ["install.sh", "faas-cli login", "docker-compose.pipeline.yaml", "secrets.sh", "minio-setup.sh",
             "faas-cli up", "faas-cli list"]
    position = readme.index("## From a bare host")
    for step in steps:  # each step comes after the one before it
        position = readme.index(step, position)
