"""The run command's failures at start: one sentence naming the problem, no traceback."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def launch(tmp_path, **overrides):
    env = {**os.environ, "ARRAYSCOPE_VAR": str(tmp_path / "var"), "PORT": str(_free_port()), **overrides}
    result = subprocess.run(
        [sys.executable, "-m", "portal.launcher", "run"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    return result.returncode, result.stderr.strip()


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def assert_one_clear_line(stderr, *phrases):
    assert "Traceback" not in stderr
    assert len(stderr.splitlines()) == 1, stderr
    for phrase in phrases:
        assert phrase in stderr


def test_wrong_database_url(tmp_path):
    code, stderr = launch(tmp_path, DATABASE_URL="postgresql://nobody@127.0.0.1:1/nothing")
    assert code == 1
    assert_one_clear_line(stderr, "Cannot connect to PostgreSQL at DATABASE_URL", "127.0.0.1:1")


def test_redis_that_is_down(tmp_path):
    code, stderr = launch(tmp_path, REDIS_URL="redis://127.0.0.1:1/0")
    assert code == 1
    assert_one_clear_line(stderr, "Cannot reach Redis at REDIS_URL", "127.0.0.1:1")


def test_port_already_in_use(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, stderr = launch(tmp_path, PORT=str(port))
    assert code == 1
    assert_one_clear_line(stderr, f"Port {port}", "already in use")


def test_var_folder_that_is_not_writable(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code, stderr = launch(tmp_path, ARRAYSCOPE_VAR=str(blocker / "var"))
    assert code == 1
    assert_one_clear_line(stderr, f"The data folder {blocker / 'var'} is not writable", "ARRAYSCOPE_VAR")


@pytest.mark.parametrize("argv", [[], ["serve"]])
def test_unknown_subcommand_prints_usage(argv):
    result = subprocess.run([sys.executable, "-m", "portal.launcher", *argv], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2 and "usage:" in result.stderr
