"""`make setup`'s OpenFaaS step: faas-cli, of-watchdog and cron-connector from OPENFAAS_BIN_DIR,
else PATH, else `go install`, else one line naming those three ways."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from shared.settings.stack import ROOT

TOOLS = ("faas-cli", "of-watchdog", "cron-connector")
PREBUILT = ROOT.parent / "shared" / "openfaas" / "bin"
MISSING_LINE = (
    "error: faas-cli of-watchdog cron-connector not found: set OPENFAAS_BIN_DIR to a folder holding them, "
    "put them on PATH, or run where `go install github.com/openfaas/<tool>@<commit in infra/versions.env>` "
    "reaches a Go proxy that serves them"
)


def bare_path(tmp_path: Path, *extra: str) -> str:
    """A PATH with only the few commands the step uses (none of the tools, no Go)."""
    bin_dir = tmp_path / "path"
    bin_dir.mkdir()
    for command in ("dirname", "mkdir", "realpath", "readlink", "ln", "cat", "rm"):
        (bin_dir / command).symlink_to(shutil.which(command))
    return os.pathsep.join([str(bin_dir), *extra])


def openfaas_step(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    env = {"TOOLS_BIN": str(tmp_path / "tools"), "HOME": str(tmp_path), **env}
    return subprocess.run([shutil.which("bash"), str(ROOT / "infra" / "setup.sh"), "--openfaas"],
                          env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)


def test_without_the_tools_setup_stops_with_one_line(tmp_path):
    result = openfaas_step(tmp_path, PATH=bare_path(tmp_path))
    assert result.returncode == 1
    assert result.stdout.splitlines() == [MISSING_LINE]
    assert not (tmp_path / "tools" / "faas-cli").exists()


def test_a_go_install_that_cannot_reach_the_modules_ends_the_same_way(tmp_path):
    go = shutil.which("go")
    if go is None:
        pytest.skip("no Go here")
    result = openfaas_step(tmp_path, PATH=bare_path(tmp_path, str(Path(go).parent)), GOPROXY="off",
                           GOFLAGS="-modcacherw", GOPATH=str(tmp_path / "gopath"))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[-1] == MISSING_LINE
    assert [line for line in lines if line.startswith("error:")] == [MISSING_LINE]
    assert "module lookup disabled by GOPROXY=off" in (tmp_path / "tools" / ".faas-cli-go-install.log").read_text()


@pytest.mark.skipif(not PREBUILT.is_dir(), reason="no prebuilt OpenFaaS tools beside the checkout")
def test_tools_come_from_openfaas_bin_dir_first(tmp_path):
    on_path = tmp_path / "elsewhere"
    on_path.mkdir()
    for tool in TOOLS:
        (on_path / tool).symlink_to(PREBUILT / tool)
    result = openfaas_step(tmp_path, PATH=bare_path(tmp_path, str(on_path)), OPENFAAS_BIN_DIR=str(PREBUILT))
    assert result.returncode == 0, result.stdout + result.stderr
    for tool in TOOLS:
        assert (tmp_path / "tools" / tool).resolve() == (PREBUILT / tool).resolve()


@pytest.mark.skipif(not PREBUILT.is_dir(), reason="no prebuilt OpenFaaS tools beside the checkout")
def test_tools_on_path_are_linked_and_a_second_run_changes_nothing(tmp_path):
    on_path = tmp_path / "elsewhere"
    on_path.mkdir()
    for tool in TOOLS:
        shutil.copy(PREBUILT / tool, on_path / tool)
    path = bare_path(tmp_path, str(on_path))
    assert openfaas_step(tmp_path, PATH=path).returncode == 0
    for tool in TOOLS:
        assert os.readlink(tmp_path / "tools" / tool) == str(on_path / tool)
    second = openfaas_step(tmp_path, PATH=path)
    assert second.returncode == 0 and second.stdout == ""
    version = subprocess.run([tmp_path / "tools" / "faas-cli", "version", "--warn-update=false"],
                             capture_output=True, text=True, timeout=30, env={"OPENFAAS_CONFIG": str(tmp_path)})
    assert "commit:  c8191b71" in version.stdout
