"""The run command's failures at start: one sentence naming the problem, no traceback."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.waiting import eventually

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


@pytest.mark.live  # it launches the whole portal, twice
def test_run_serves_the_demo_stops_cleanly_on_ctrl_c_and_keeps_the_data(tmp_path):
    import signal
    import urllib.request

    import psutil
    from websockets.sync.client import connect

    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("DATABASE_URL", "DATABASE_ADMIN_URL", "REDIS_URL", "SECRET_KEY")
    }
    env.update(ARRAYSCOPE_VAR=str(tmp_path / "var"), PORT=str(_free_port()))

    def start_and_stop(while_running=lambda: None):
        launcher = subprocess.Popen(
            [sys.executable, "-m", "portal.launcher", "run"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        banner = ""
        while "Press Ctrl-C to stop." not in banner:
            line = launcher.stdout.readline()
            assert line, f"the launcher ended early:\n{banner}"
            banner += line
        children = psutil.Process(launcher.pid).children(recursive=True)
        while_running()
        with urllib.request.urlopen(f"http://127.0.0.1:{env['PORT']}/healthz") as response:
            health = json.loads(response.read())
        launcher.send_signal(signal.SIGINT)
        assert launcher.wait(60) == 0
        assert not (tmp_path / "var" / "pg" / "postmaster.pid").exists(), "PostgreSQL was stopped"
        running = lambda: [child for child in children if child.is_running() and child.status() != "zombie"]  # noqa: E731
        left_running = eventually(running, 10, "every part to stop", until=lambda left: left == [])
        return banner, health, left_running

    def manage_beside_the_running_portal():
        issued = subprocess.run(
            [sys.executable, "-m", "portal.launcher", "manage", "issue_api_key", "demo", "demo-partner"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        key = issued.stdout.strip().splitlines()[-1]
        request = urllib.request.Request(
            f"http://127.0.0.1:{env['PORT']}/api/v1/whoami/", headers={"Authorization": f"Api-Key {key}"}
        )
        with urllib.request.urlopen(request) as response:
            assert json.loads(response.read())["tenant"]["slug"] == "demo"
        # The demo's replayed night reaches the live feed, as the dashboard shows it.
        feed = f"ws://127.0.0.1:{env['PORT']}/ws/t/demo/alerts/?key={key}"
        with connect(feed, additional_headers={"Origin": f"http://127.0.0.1:{env['PORT']}"}, open_timeout=10) as socket:
            message = eventually(lambda: json.loads(socket.recv(timeout=120)), 120, "an alert of the replayed night",
                                 interval=0, until=lambda message: message["type"] == "alert")  # fmt: skip
        assert message["alert"]["object_id"].startswith("ZTF")

    first_banner, health, left_running = start_and_stop(manage_beside_the_running_portal)
    assert "demo-admin" in first_banner and "arrayscope-demo" in first_banner
    assert health["ok"] and health["parts"]["workers"]["queues"]["gpu"]
    assert left_running == []
    secret = (tmp_path / "var" / "secret_key").read_text()
    second_banner, health, left_running = start_and_stop()
    assert "Applying portal.0001_initial" not in second_banner, "a second run migrates nothing"
    assert health["ok"] and left_running == []
    assert (tmp_path / "var" / "secret_key").read_text() == secret, "sessions survive a restart"
