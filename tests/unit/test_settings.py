"""Settings and secrets: each section's defaults, validation messages, secret files before the environment."""

import re

import pytest

from shared.errors import ConfigError
from shared.settings import load_settings, read_secret
from shared.settings.core import PORT, POSITIVE_INT, at_least, read
from shared.settings.data_api import load_config
from shared.settings.gateway import load_gateway_settings, max_replicas
from shared.settings.stack import PORTS, ROOT, load_stack_config
from shared.settings.ui import UiSettings, load_ui_settings


def test_defaults_describe_the_local_stack():
    settings = load_settings({})
    assert settings.group_number == 6
    assert settings.batch_threshold == 10
    assert settings.data_api_url == "http://127.0.0.1:8090"
    assert settings.minio_endpoint == "127.0.0.1:9000"
    assert settings.mlflow_tracking_uri == "http://127.0.0.1:5000"
    assert str(settings.secrets_dir) == "/var/openfaas/secrets"


def test_ports_move_the_derived_addresses():
    settings = load_settings({"MINIO_PORT": "19000", "MLFLOW_PORT": "15000", "DATA_API_PORT": "18090"})
    assert settings.minio_endpoint == "127.0.0.1:19000"
    assert settings.mlflow_tracking_uri == "http://127.0.0.1:15000"
    assert settings.data_api_url == "http://127.0.0.1:18090"


@pytest.mark.parametrize(
    "name, value",
    [
        ("GROUP_NUMBER", "six"),
        ("GROUP_NUMBER", "0"),
        ("BATCH_THRESHOLD", "-1"),
        ("DATA_API_URL", "10.0.0.1:80"),
        ("MLFLOW_TRACKING_URI", "localhost:5000"),
        ("MINIO_SECURE", "maybe"),
        ("HTTP_TIMEOUT", "0"),
        ("MINIO_PORT", "http"),
        ("BATCH_BUCKET", "two words"),
    ],
)
def test_a_bad_setting_fails_naming_the_variable(name, value):
    with pytest.raises(ConfigError) as caught:
        load_settings({name: value})
    message = str(caught.value)
    assert message.startswith(f"{name}={value!r} is invalid: use ")
    assert "\n" not in message


def test_secret_file_wins_over_environment(tmp_path):
    (tmp_path / "minio-secret-key").write_text("from-file\n")
    env = {"MINIO_SECRET_KEY": "from-env"}
    assert read_secret("minio-secret-key", env=env, secrets_dir=tmp_path) == "from-file"


def test_secret_falls_back_to_environment(tmp_path):
    assert read_secret("mysql-password", env={"MYSQL_PASSWORD": "pw"}, secrets_dir=tmp_path) == "pw"


def test_missing_secret_names_file_and_variable(tmp_path):
    with pytest.raises(ConfigError, match=r"'mysql-password' is missing: put it in .*mysql-password or set MYSQL_PASSWORD"):
        read_secret("mysql-password", env={}, secrets_dir=tmp_path)


# --- the one validator, and a section per part ----------------------------------------------

def test_read_names_the_variable_and_the_rule_or_given_fix():
    assert read({}, "SOME_PORT", "8080", PORT) == 8080
    with pytest.raises(ConfigError, match=r"^SOME_PORT='0' is invalid: use a TCP port number 1\.\.65535$"):
        read({"SOME_PORT": "0"}, "SOME_PORT", "8080", PORT)
    with pytest.raises(ConfigError, match=r"^N='0\.5' is invalid: use an integer >= 1$"):
        read({"N": "0.5"}, "N", "1", at_least(int, 1))
    with pytest.raises(ConfigError, match=r"^N='nan' is invalid: use a number >= 0$"):
        read({"N": "nan"}, "N", "1", at_least(float, 0))
    with pytest.raises(ConfigError, match=r"^N='x' is invalid: use what I say$"):
        read({"N": "x"}, "N", "1", POSITIVE_INT, "use what I say")


def test_gateway_defaults():
    settings = load_gateway_settings({})
    assert (settings.host, settings.port, settings.functions_port_base) == ("127.0.0.1", 8080, 8100)
    assert settings.stack_file == ROOT / "stack.yml" and settings.secrets_dir == ROOT / ".state" / "secrets"
    assert (settings.async_workers, settings.max_replicas, settings.retry_max_wait) == (4, 4, 60.0)
    assert settings.nats_url == "nats://127.0.0.1:4222"
    assert settings.callback_hosts == {"127.0.0.1", "localhost", "::1"}
    assert settings.upstream_connections == 64
    assert max_replicas({"GATEWAY_MAX_REPLICAS": "2"}) == 2


@pytest.mark.parametrize("name, value", [
    ("GATEWAY_PORT", "http"), ("GATEWAY_MAX_BODY_BYTES", "10"), ("GATEWAY_RETRY_DELAY", "-1"),
    ("GATEWAY_MAX_REPLICAS", "0"), ("GATEWAY_UPSTREAM_CONNECTIONS", "0"), ("NATS_PORT", "99999"), ("BIND_HOST", ""),
])
def test_a_bad_gateway_setting_is_named(name, value):
    with pytest.raises(ConfigError, match="^" + re.escape(f"{name}={value!r} is invalid: use ")):
        load_gateway_settings({name: value})


def test_stack_defaults():
    config = load_stack_config({})
    assert config.state_dir == (ROOT / ".state").resolve() and config.host == "127.0.0.1"
    assert config.ports == {name: port for name, (_, port) in PORTS.items()}
    assert config.stack_file == (ROOT / "stack.yml").resolve() and (ROOT / "stack.yml").is_file()
    assert (config.prometheus_scrape_interval, config.nats_max_payload, config.nats_sync_interval) == (
        "5s", 8 * 1024 * 1024, "always")
    assert config.demo_timeout == 600
    assert config.service_env()["UI_PORT"] == "8503" and config.url("gateway") == "http://127.0.0.1:8080"


@pytest.mark.parametrize("name, value", [
    ("MLFLOW_PORT", "99999"), ("UI_PORT", "+80"), ("NATS_MAX_PAYLOAD", "100"), ("NATS_SYNC_INTERVAL", "often"),
    ("PROMETHEUS_SCRAPE_INTERVAL", "5"), ("DEMO_TIMEOUT", "soon"),
])
def test_a_bad_stack_setting_is_named(name, value):
    with pytest.raises(ConfigError, match="^" + re.escape(f"{name}={value!r} is invalid: use ")):
        load_stack_config({name: value})


def test_data_api_defaults_and_a_bad_value(tmp_path):
    config = load_config({"STATE_DIR": str(tmp_path), "DATA_API_PORT": "18090"})
    assert (config.port, config.state_dir, config.batch_period) == (18090, tmp_path.resolve(), 300.0)
    assert (config.csv_path, config.seed, config.synthetic_rows) == (None, 6, 581012)
    (tmp_path / "rows.csv").write_text("")
    assert load_config({"COVERTYPE_CSV": str(tmp_path / "rows.csv")}).csv_path == tmp_path / "rows.csv"
    with pytest.raises(ConfigError, match=r"^COVERTYPE_CSV='/nonexistent\.csv' is invalid: give a file"):
        load_config({"COVERTYPE_CSV": "/nonexistent.csv"})
    with pytest.raises(ConfigError, match=r"^DATA_API_ROWS='5' is invalid: use an integer >= 100$"):
        load_config({"DATA_API_ROWS": "5"})


def test_ui_defaults_and_addresses():
    assert load_ui_settings({}) == UiSettings("127.0.0.1", 8503, "http://127.0.0.1:8080", "http://127.0.0.1:9090")
    ports = load_ui_settings({"GATEWAY_PORT": "18080", "PROMETHEUS_PORT": "19090", "UI_PORT": "18503"})
    assert (ports.port, ports.gateway_url, ports.prometheus_url) == (18503, "http://127.0.0.1:18080", "http://127.0.0.1:19090")
    given = load_ui_settings({"GATEWAY_URL": "http://gw.example/", "PROMETHEUS_URL": "https://prom.example",
                              "BIND_HOST": "0.0.0.0"})
    assert (given.host, given.gateway_url, given.prometheus_url) == ("0.0.0.0", "http://gw.example", "https://prom.example")


@pytest.mark.parametrize("name, value", [("UI_PORT", "web"), ("GATEWAY_URL", "gw:8080"), ("PROMETHEUS_URL", "prom")])
def test_a_bad_ui_setting_is_named(name, value):
    with pytest.raises(ConfigError, match="^" + re.escape(f"{name}={value!r} is invalid: use ")):
        load_ui_settings({name: value})
