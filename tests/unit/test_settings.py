"""Settings and secrets: defaults, validation messages, secret files before the environment."""

import pytest

from shared.errors import ConfigError
from shared.settings import load_settings, read_secret


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
