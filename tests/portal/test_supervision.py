"""A part of a running portal that stops is started again, and nothing sent meanwhile is lost.

One portal is launched for the module (``python -m portal.launcher run``, embedded PostgreSQL
and Redis, the demo's replayed night streaming); each test kills one part of it, and the last
stops it with Ctrl-C and starts it again: one first start (the demo) serves them all.
"""

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import psycopg
import pytest

from alerts.synthetic import make_alert
from portal.embedded import EmbeddedPostgres
from portal.supervision import Part, Supervisor
from tests.waiting import eventually

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(600)  # the first test's share includes the portal's first start (the demo's models)


@dataclass
class Launched:
    launcher: subprocess.Popen
    var: Path
    port: int
    env: dict = field(default_factory=dict)
    key: str = ""
    said: list = field(default_factory=list)  # the launcher's output, line by line

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def healthy(self):
        try:
            with urllib.request.urlopen(self.url("/healthz"), timeout=5) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def post(self, packet):
        request = urllib.request.Request(
            self.url("/api/v1/alerts/"), data=json.dumps(packet).encode(), method="POST",
            headers={"Authorization": f"Api-Key {self.key}", "Content-Type": "application/json"},
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())

    def part(self, *words):
        """The launcher's child whose command line holds ``words`` in a row."""
        for child in psutil.Process(self.launcher.pid).children():
            line = child.cmdline()
            if any(line[index : index + len(words)] == list(words) for index in range(len(line))):
                return child
        return None

    def database(self):
        server = EmbeddedPostgres(self.var).start()  # joins the portal's, and leaves it running
        return psycopg.connect(server.url("arrayscope", user="postgres"), autocommit=True)

    def next_alert_id(self):
        with self.database() as conn:
            return conn.execute("SELECT coalesce(max(id), 0) FROM alerts_alert").fetchone()[0]

    def stop(self):
        """Ctrl-C, as a person stops it; its exit code."""
        self.launcher.send_signal(signal.SIGINT)
        return self.launcher.wait(60)


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def launch(var, port):
    """``python -m portal.launcher run`` on ``var``, once it says it is running."""
    env = {name: value for name, value in os.environ.items()
           if name not in ("DATABASE_URL", "DATABASE_ADMIN_URL", "REDIS_URL", "SECRET_KEY")}  # fmt: skip
    env.update(ARRAYSCOPE_VAR=str(var), PORT=str(port))
    launcher = subprocess.Popen([sys.executable, "-m", "portal.launcher", "run"], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    launched = Launched(launcher, var, port, env=env)
    threading.Thread(target=lambda: launched.said.extend(launcher.stdout), daemon=True).start()
    started = lambda: any("Press Ctrl-C to stop." in line for line in launched.said)  # noqa: E731
    try:
        eventually(lambda: started() or launcher.poll() is not None, 500, "the portal to start")
        assert launcher.poll() is None, "".join(launched.said)
    except BaseException:
        launched.stop()
        raise
    return launched


@pytest.fixture(scope="module")
def portal(tmp_path_factory):
    """One portal for the module: its first start (migrations, the demo) is most of a minute."""
    launched = launch(tmp_path_factory.mktemp("supervised") / "var", _free_port())
    try:
        issued = subprocess.run(
            [sys.executable, "-m", "portal.launcher", "manage", "issue_api_key", "demo", "demo-partner", "--scope",
             "write"], cwd=ROOT, env=launched.env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        launched.key = issued.stdout.strip().splitlines()[-1]
        yield launched
    finally:
        launched.stop()


def packet(seed):
    """A synthetic alert as a partner posts it (stamps in base64), under a candidate id of its own."""
    alert = make_alert(seed).packet
    alert["candid"] = 2 * 10**15 + seed
    for stamp in ("cutoutScience", "cutoutTemplate", "cutoutDifference"):
        alert[stamp]["stampData"] = base64.b64encode(alert[stamp]["stampData"]).decode()
    return alert


def arrives(portal, candidate_id, after):
    """True once the alert reaches the demo's live feed (a client catching up from ``after``)."""
    from websockets.sync.client import connect

    feed = f"ws://127.0.0.1:{portal.port}/ws/t/demo/alerts/?key={portal.key}&after={after}"

    def next_message():
        message = json.loads(feed_socket.recv(timeout=5))
        return message["type"], message.get("alert", {}).get("candidate_id")

    with connect(feed, additional_headers={"Origin": portal.url("")}, open_timeout=10) as feed_socket:
        return eventually(next_message, 60, f"alert {candidate_id} on the live feed", interval=0,
                          until=lambda said: said == ("alert", candidate_id), ignoring=(TimeoutError,))  # fmt: skip


def test_an_alert_posted_while_redis_is_down_is_stored_and_goes_out_once_redis_is_restarted(portal):
    redis_pid = int((portal.var / "redis" / "redis.pid").read_text())
    after = portal.next_alert_id()
    portal.launcher.send_signal(signal.SIGSTOP)  # Redis stays down until the launcher goes on
    try:
        os.kill(redis_pid, signal.SIGKILL)
        eventually(lambda: not psutil.pid_exists(redis_pid) or psutil.Process(redis_pid).status() == "zombie",
                   message="Redis to die")  # fmt: skip
        status, body = portal.post(packet(1))
    finally:
        portal.launcher.send_signal(signal.SIGCONT)
    assert status == 201 and body["stored"] == 1, "stored in PostgreSQL with Redis down"
    eventually(lambda: "redis stopped; restarting in 1 s\n" in portal.said, message="the launcher to restart Redis")
    eventually(portal.healthy, message="/healthz to say the portal is well again")
    assert arrives(portal, packet(1)["candid"], after), "it went out once Redis was back"
    status, _ = portal.post(packet(2))
    assert status == 201 and arrives(portal, packet(2)["candid"], after)


def test_a_killed_worker_is_restarted(portal):
    worker = portal.part("-Q", "gpu")
    os.killpg(worker.pid, signal.SIGKILL)
    eventually(lambda: any(line.startswith("worker-gpu exited (code -9); restarting in") for line in portal.said),
               message="the launcher to see the gpu worker stop")  # fmt: skip
    restarted = eventually(lambda: portal.part("-Q", "gpu"), message="a new gpu worker")
    assert restarted.pid != worker.pid
    eventually(portal.healthy, message="/healthz to see a gpu worker again")
    after = portal.next_alert_id()
    status, _ = portal.post(packet(3))
    assert status == 201 and arrives(portal, packet(3)["candid"], after), "classified by the new gpu worker"


def test_the_replayed_night_resumes_after_postgresql_is_killed_and_loses_no_packet(portal):
    def replayed():
        with portal.database() as conn:
            return conn.execute("SELECT replayed_file, replayed_count FROM alerts_alertstream "
                                "WHERE name = 'demo-night'").fetchone()  # fmt: skip

    # The stream must be under way when PostgreSQL dies (the alerts process starts with the web).
    before = eventually(lambda: (row := replayed()) is not None and row[1] > 0 and row,
                        message="the demo night's replay to be under way")  # fmt: skip
    postmaster = int((portal.var / "pg" / "postmaster.pid").read_text().split()[0])
    os.kill(postmaster, signal.SIGKILL)
    eventually(lambda: "postgresql stopped; restarting in 1 s\n" in portal.said,
               message="the launcher to restart PostgreSQL")  # fmt: skip
    eventually(portal.healthy, message="/healthz to say the portal is well again")
    # PostgreSQL's backends outlive a killed postmaster for a moment, so the stream may store a
    # batch or two before its connection fails; it must then stop, say so, and resume.
    eventually(lambda: "demo/demo-night: resuming in 1 s" in (portal.var / "log" / "alerts.log").read_text(),
               message="the stream to stop on its lost connection and resume")  # fmt: skip
    resumed_at = replayed()
    assert resumed_at >= before
    eventually(lambda: replayed() > resumed_at, message="the replay to go on after it resumed")
    # The night's packets up to where the replay stands are each stored, none missing.
    from alerts.avro import read_alerts

    file, count = replayed()
    sent = []
    for path in sorted((portal.var / "alerts" / "demo").glob("*.avro")):
        if path.name <= file:
            with path.open("rb") as night:
                sent += [record["candid"] for record in read_alerts(night)][: None if path.name < file else count]
    with portal.database() as conn:
        stored = {
            row[0] for row in conn.execute("SELECT candidate_id FROM alerts_alert WHERE origin LIKE 'demo-night:%'")
        }
    assert sent and set(sent) <= stored


def test_a_part_that_keeps_stopping_waits_longer_each_time():
    said, started = [], []

    def start():
        started.append(subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"]))

    start()
    part = Part("flaky", start, lambda: None if started[-1].poll() is None else f"exited (code {started[-1].poll()})")
    supervisor = Supervisor([], [part], say=lambda line, flush: said.append(line))
    eventually(lambda: supervisor.tick() or len(started) == 3, timeout=30, message="two restarts")
    eventually(lambda: supervisor.tick() or len(said) == 5, timeout=10, message="the third stop")
    assert said == ["flaky exited (code 3); restarting in 1 s", "flaky restarted",
                    "flaky exited (code 3); restarting in 2 s", "flaky restarted",
                    "flaky exited (code 3); restarting in 4 s"]  # fmt: skip


def _alive(process):
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def stopped_cleanly(launched):
    """Ctrl-C stops the launcher and every process it started, PostgreSQL included."""
    children = psutil.Process(launched.launcher.pid).children(recursive=True)
    assert launched.stop() == 0
    assert not (launched.var / "pg" / "postmaster.pid").exists(), "PostgreSQL was stopped"
    running = lambda: [child for child in children if _alive(child)]  # noqa: E731
    eventually(running, 10, "every part to stop", until=lambda left: left == [])


def test_run_serves_the_demo_stops_cleanly_on_ctrl_c_and_keeps_the_data(portal):
    """Last in the module, on the portal whose parts the tests above killed: it still serves the
    demo, Ctrl-C still stops every part, and a second start on the same data migrates nothing."""
    from websockets.sync.client import connect

    banner = "".join(portal.said)
    assert "demo-admin" in banner and "arrayscope-demo" in banner
    eventually(portal.healthy, message="/healthz to say the portal is well")
    with urllib.request.urlopen(portal.url("/healthz")) as response:
        assert json.loads(response.read())["parts"]["workers"]["queues"]["gpu"]
    # The key ./arrayscope manage issued beside the running portal is the portal's own.
    whoami = urllib.request.Request(portal.url("/api/v1/whoami/"), headers={"Authorization": f"Api-Key {portal.key}"})
    with urllib.request.urlopen(whoami) as response:
        assert json.loads(response.read())["tenant"]["slug"] == "demo"
    # The demo's replayed night reaches the live feed, as the dashboard shows it.
    feed = f"ws://127.0.0.1:{portal.port}/ws/t/demo/alerts/?key={portal.key}"
    with connect(feed, additional_headers={"Origin": portal.url("")}, open_timeout=10) as feed_socket:
        message = eventually(lambda: json.loads(feed_socket.recv(timeout=120)), 120, "an alert of the replayed night",
                             interval=0, until=lambda message: message["type"] == "alert")  # fmt: skip
    assert message["alert"]["object_id"].startswith("ZTF")
    secret = (portal.var / "secret_key").read_text()
    stopped_cleanly(portal)
    again = launch(portal.var, portal.port)
    try:
        assert "Applying portal.0001_initial" not in "".join(again.said), "a second run migrates nothing"
        eventually(again.healthy, message="/healthz to say the second start is well")
    finally:
        stopped_cleanly(again)
    assert (portal.var / "secret_key").read_text() == secret, "sessions survive a restart"
