"""The stack's own configuration: generated secrets and port variables."""

import pytest

from infra.secret_files import SECRET_DEFAULTS, ensure_secrets
from shared.errors import ConfigError
from shared.settings.stack import StackConfig, load_stack_config


def test_ensure_secrets_generates_once_and_keeps_given_values(tmp_path):
    config = StackConfig(state_dir=tmp_path, host="127.0.0.1")
    ensure_secrets(config, env={"MINIO_SECRET_KEY": "chosen-by-user"})
    first = {name: config.secret(name) for name in SECRET_DEFAULTS}
    assert first["minio-secret-key"] == "chosen-by-user"
    assert len(first["mysql-password"]) >= 24
    assert oct((tmp_path / "secrets" / "mysql-password").stat().st_mode & 0o777) == "0o600"
    ensure_secrets(config, env={})
    assert {name: config.secret(name) for name in SECRET_DEFAULTS} == first


def test_two_stacks_generate_different_passwords(tmp_path):
    a, b = StackConfig(state_dir=tmp_path / "a", host="127.0.0.1"), StackConfig(state_dir=tmp_path / "b", host="127.0.0.1")
    ensure_secrets(a, env={})
    ensure_secrets(b, env={})
    assert a.secret("mysql-password") != b.secret("mysql-password")


def test_bad_port_variable_is_named():
    with pytest.raises(ConfigError, match=r"^MLFLOW_PORT='99999' is invalid"):
        load_stack_config({"MLFLOW_PORT": "99999"})
