"""Reading stack.yml as faas-cli does: substitution, durations, ports, and clear errors."""

from __future__ import annotations

import pytest

from infra.gateway.stackfile import function_ports, load_stack_file, parse_duration, substitute
from shared.errors import ConfigError

SUBSTITUTIONS = [
    # text, environment, expected
    ("${A:-x}", {}, "x"),
    ("${A:-x}", {"A": ""}, "x"),
    ("${A:-x}", {"A": "set"}, "set"),
    ("${A-x}", {}, "x"),
    ("${A-x}", {"A": ""}, ""),
    ("${A}", {}, ""),
    ("${A}", {"A": "v"}, "v"),
    ("${SCHEDULE:-*/5 * * * *}", {}, "*/5 * * * *"),
    ("${SCHEDULE:-*/5 * * * *}", {"SCHEDULE": "@every 10s"}, "@every 10s"),
    ("${REGISTRY:-ghcr.io/x}/fn:${TAG:-latest}", {"TAG": "abc123"}, "ghcr.io/x/fn:abc123"),
    ("$NOT_BRACED stays", {"NOT_BRACED": "v"}, "$NOT_BRACED stays"),
    ("http://${HOST:-10.62.0.1}:${PORT:-9000}", {"PORT": "19000"}, "http://10.62.0.1:19000"),
]


@pytest.mark.parametrize(("text", "env", "expected"), SUBSTITUTIONS)
def test_substitute(text, env, expected):
    assert substitute(text, env) == expected


@pytest.mark.parametrize(("raw", "seconds"), [
    ("10m", 600), ("30s", 30), ("1m30s", 90), ("500ms", 0.5), ("1h", 3600), ("45", 45), ("2.5s", 2.5),
])
def test_parse_duration(raw, seconds):
    assert parse_duration(raw) == seconds


@pytest.mark.parametrize("raw", ["", "ten minutes", "10x", "5m junk", "-1s"])
def test_bad_duration_names_the_fix(raw):
    with pytest.raises(ConfigError, match="30s, 10m"):
        parse_duration(raw)


def write(tmp_path, text: str):
    path = tmp_path / "stack.yml"
    path.write_text(text)
    return path


def test_functions_keep_their_order_and_get_consecutive_ports(tmp_path):
    path = write(tmp_path, "functions:\n  b: {handler: ./b}\n  a: {handler: ./a}\n  c: {handler: ./c}\n")
    stack = load_stack_file(path, {})
    assert function_ports(stack, 9100) == {"b": 9100, "a": 9101, "c": 9102}
    assert stack.functions["a"].handler == (tmp_path / "a").resolve()
    assert stack.functions["a"].timeout == 60  # no exec_timeout: the default


@pytest.mark.parametrize(("text", "message"), [
    ("functions: {}\n", "defines no functions"),
    ("provider: {name: openfaas}\n", "defines no functions"),
    ("functions:\n  a: {lang: python3-http-debian}\n", "needs a `handler:`"),
    ("functions:\n  a: {handler: ./a, environment: [x]}\n", "environment must be a mapping"),
    ("functions: [unclosed\n", "not valid YAML"),
])
def test_bad_stack_files_fail_with_one_clear_line(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_stack_file(write(tmp_path, text), {})


def test_missing_stack_file_names_the_setting(tmp_path):
    with pytest.raises(ConfigError, match="STACK_FILE"):
        load_stack_file(tmp_path / "nope.yml", {})


def test_yaml_scalars_read_as_faas_cli_sends_them(tmp_path):
    """Booleans as Go writes them (`false`, not Python's `False`), so `faas-cli diff` sees no drift."""
    path = write(tmp_path, "functions:\n  a:\n    handler: ./a\n    environment: {SECURE: false, DEBUG: true, N: 6, EMPTY: }\n"
                           "    annotations: {async: true}\n")
    function = load_stack_file(path, {}).functions["a"]
    assert function.environment == {"SECURE": "false", "DEBUG": "true", "N": "6", "EMPTY": ""}
    assert function.annotations == {"async": "true"}
