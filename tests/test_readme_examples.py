"""Every example of the README, run as written against a `make up` stack and a `make demo` one.

The examples are the README's ```sh blocks, run in README order in one bash in the
checkout, as a reader types them. Each command must have a row in EXPECTED saying what
it answers, so an example added, changed or removed without its answer fails here.
Both stacks run on free ports with their state in temp dirs; the examples' shell gets
no port variables: `make status` and `make -s env` must find the stack by themselves.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest

from infra.supervisor import SERVICES
from tests.newcomer_support import (
    LIFECYCLE,
    free_ports,
    make,
    readme_commands,
    run_in_one_shell,
    user_env,
    without_comment,
)

# a stack's start counts in its first test: make up or make demo under a heavy load takes up to 15 min
pytestmark = [pytest.mark.services, pytest.mark.timeout(2400)]

# the demo, faster still: about 4 s a batch and 581 rows each
DEMO_CADENCE = {"DEMO_SCHEDULE": "@every 2s", "DEMO_BATCH_PERIOD": "3", "DATA_API_ROWS": "58101",
                "MODEL_POLL_SECONDS": "1"}
TITLES = {"up": "make up's stack", "demo": "the demo's stack"}
# under loads of 18 to 30 on 2 cores, MLflow (180 s) and the functions (60 s) outlasted make up's waits; a user runs it again
START_ATTEMPTS = 6


@pytest.fixture(scope="module", params=["up", "demo"])
def started(request, tmp_path_factory):
    """(kind, the shell's environment, what the start command printed); stopped with `make down` after."""
    kind = request.param
    root = tmp_path_factory.mktemp(f"readme-{kind}")
    shell = user_env(root / "state", root / "state-demo", OPENFAAS_CONFIG=str(root / "openfaas"))
    starting = {**shell, **free_ports(), **(DEMO_CADENCE if kind == "demo" else {})}
    try:
        for _ in range(START_ATTEMPTS):
            result = make(kind, starting, timeout=900)
            if "did not become healthy" not in result.stderr:
                break
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        yield kind, shell, result.stdout
    finally:
        stopped = make("down", shell, timeout=180)
        assert stopped.stdout.startswith(f"stopped {TITLES[kind]}"), stopped.stdout + stopped.stderr


def answer(out: str) -> dict | list:
    return json.loads(out)


def predict_answer(rows: int) -> Callable[[str, str], None]:
    def check(out: str, kind: str) -> None:
        body = answer(out)
        if kind == "up":  # no champion for the first 50 minutes
            assert body["status"] == "no_champion" and body["error"].startswith("no champion yet"), body
        else:
            assert len(body["predictions"]) == rows and body["model"]["version"], body
            assert set(body["predictions"][0]) == {"cover_type", "label", "probabilities"}
    return check


def champion_info(out: str, kind: str) -> None:
    body = answer(out)
    assert body["status"] == ("no_champion" if kind == "up" else "ok"), body
    if kind == "demo":
        assert {"version", "family", "metrics"} <= set(body)


def forced_training(out: str, kind: str) -> None:
    body = answer(out)
    if kind == "up":
        assert body["status"] == "waiting" and re.fullmatch(r"waiting \d/10 batches of group 6", body["message"]), body
    elif body["status"] == "trained":
        assert len(body["candidates"]) == 3 and body["decision"]["alias"] in ("champion", "challenger"), body
    else:
        assert body["status"] == "in_progress", body


def status_text(out: str, kind: str) -> None:
    lines = out.splitlines()
    assert lines[0].startswith(f"{TITLES[kind]} (state ")
    for name, _, _ in SERVICES:
        assert re.search(rf"^{re.escape(name)}\s+RUNNING\s+\S", out, re.MULTILINE), (name, out)
    assert re.search(r"^batches\s+\d+/10\s", out, re.MULTILINE), out
    assert re.search(r"^training\s+(waiting|running|done)\s", out, re.MULTILINE), out
    champion = r"^champion\s+none\s+expected in about" if kind == "up" else r"^champion\s+v\d+\s+\w+, accuracy 0\.\d{3}$"
    assert re.search(champion, out, re.MULTILINE), out


def check_text(out: str, kind: str) -> None:
    lines = out.splitlines()
    assert lines[0].startswith(f"checking {TITLES[kind]} (state ")
    assert [line.split()[:2] for line in lines[1:-1]] == [[name, "ok"] for name, _, _ in SERVICES], out
    assert lines[-1] == f"{len(SERVICES)} of {len(SERVICES)} services ok"


def exports(out: str, kind: str) -> None:
    assert re.fullmatch(rf"# {TITLES[kind]} \(state \S+\)", out), out  # eval takes the exports; this line is for you


def health(out: str, kind: str) -> None:
    assert out == "OK"


def functions(out: str, kind: str) -> None:
    assert {fn["name"] for fn in answer(out)} >= {"fetch-batch", "train-model", "predict"}


def silent(out: str, kind: str) -> None:
    assert out == ""


def async_outcome(out: str, kind: str) -> None:
    assert re.search(r"async train-model [0-9a-f-]{36} -> 200 after 1 run\(s\)$", out), out


def logged_in(out: str, kind: str) -> None:
    assert "credentials saved" in out, out


def listed(out: str, kind: str) -> None:
    names = {line.split()[0] for line in out.splitlines()[1:]}
    assert {"fetch-batch", "train-model", "predict"} <= names, out


def described(out: str, kind: str) -> None:
    assert re.search(r"^Name:\s+predict$", out, re.MULTILINE) and re.search(r"^Status:\s+Ready$", out, re.MULTILINE), out


def log_lines(out: str, kind: str) -> None:
    assert "error" not in out.lower(), out  # the lines themselves depend on what predict has logged so far


def namespace(out: str, kind: str) -> None:
    assert "openfaas-fn" in out, out


def secret_names(out: str, kind: str) -> None:
    assert "basic-auth-password" in out.split(), out


def service_count(out: str, kind: str) -> None:
    assert re.fullmatch(r"(gateway_service_count\{[^}]*\} [0-9.e+]+\n?)+", out), out


def invalid_input(out: str, kind: str) -> None:
    body = answer(out)
    fields = {detail["field"] for detail in body["details"]}
    assert "Elevation" in fields and "Soil_Type" in fields, body


EXPECTED: dict[str, Callable[[str, str], None]] = {
    "make status": status_text,
    'echo "${ADMIN#*:}" | .tools/bin/faas-cli login --username "${ADMIN%%:*}" --password-stdin': logged_in,
    ".tools/bin/faas-cli list -v": listed,
    ".tools/bin/faas-cli describe predict": described,
    ".tools/bin/faas-cli logs predict --tail=false --lines 5": log_lines,
    ".tools/bin/faas-cli namespace get openfaas-fn": namespace,
    ".tools/bin/faas-cli secret list": secret_names,
    "curl -s $GATEWAY/metrics | grep '^gateway_service_count'": service_count,
    "make check": check_text,
    'eval "$(make -s env)"': exports,
    "curl -s $GATEWAY/healthz": health,
    "curl -s -u $ADMIN $GATEWAY/system/functions": functions,
    "curl -s $GATEWAY/function/predict": champion_info,
    "CALL=$(curl -s -o /dev/null -w '%header{x-call-id}' -u $ADMIN -X POST $GATEWAY/async-function/train-model)": silent,
    'sleep 5; grep "$CALL" $LOGS/gateway.log': async_outcome,
    "curl -s -u $ADMIN -d '{\"force\": true}' $GATEWAY/function/train-model": forced_training,
    "curl -s -d @examples/record.json $GATEWAY/function/predict": predict_answer(1),
    "curl -s --data-binary @examples/rows.csv -H 'Content-Type: text/csv' $GATEWAY/function/predict": predict_answer(5),
    "curl -s -d '{\"Elevation\": \"high\"}' $GATEWAY/function/predict": invalid_input,
}


def test_the_start_command_says_what_comes_next(started):
    kind, _, printed = started
    if kind == "up":
        assert re.search(r"^next: the cron fires fetch-batch on '\*/5 \* \* \* \*'; the first batch comes at "
                         r"\d\d:\d\d:00 UTC\.$", printed, re.MULTILINE), printed
        assert "the first champion is expected at about" in printed and "(10 batches x 5 min)" in printed
    else:
        assert re.search(r"from an empty state to a serving champion in \d+ s", printed), printed
        assert "`make status` and the README's examples talk to it" in printed


def test_every_readme_example_answers_as_it_says(started):
    kind, shell, _ = started
    commands = [command for command in readme_commands() if not LIFECYCLE.fullmatch(without_comment(command))]
    assert sorted(without_comment(c) for c in commands) == sorted(EXPECTED), "each README example needs a row"
    outcomes = run_in_one_shell(commands, shell)
    for command, (code, out) in zip(commands, outcomes, strict=True):
        assert code == 0, (command, out)
        EXPECTED[without_comment(command)](out, kind)


def test_lifecycle_commands_are_make_targets(tmp_path):
    shell = user_env(tmp_path / "state", tmp_path / "state-demo")
    for command in readme_commands():
        if LIFECYCLE.fullmatch(without_comment(command)):
            target = without_comment(command).split()[1]
            assert make(target, shell, 60, "-n").returncode == 0, command
