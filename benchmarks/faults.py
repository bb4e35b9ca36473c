"""Faults: each part of a running portal killed in turn while alerts stream in; what is lost and how fast it recovers.

Starts the portal as a user does (``python -m portal.launcher run``: embedded PostgreSQL and
Redis, a Celery worker per queue, beat, the web processes and the alert consumer replaying
the demo's night) in a folder and on a port of its own. A partner then POSTs synthetic
alerts at a steady rate (5 a second; a POST that fails is sent again half a second later, as
a partner's client would) while a dashboard's websocket records each alert it is sent,
reconnecting from the last id it saw when its connection drops. Meanwhile each part is killed
(SIGKILL) in turn: Redis, PostgreSQL, each Celery worker, one web process, the alert
consumer; the next only once the portal has recovered from the last.

Figures per part: seconds from the kill until ``/healthz`` answers 200 with the part running
again, and until alerts flow again (a POSTed alert sent after the kill reaches the websocket;
for the consumer, the replayed night stores a packet again). Over the whole run: alerts lost
(accepted, never delivered; goal 0), delivered twice (goal 0), and the replayed night's
packets missing from the database. Baseline, same run: the same stream with nothing killed.
Goal: every recovery under 30 s.

    python benchmarks/faults.py [--quick]
"""

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import psycopg
from embedded_portal import ROOT, machine

GOAL_S = 30
PARTS = ["redis", "postgresql", "worker-default", "worker-gpu", "worker-gpu-batch", "web-1", "alerts"]


class Portal:
    """A portal run by the launcher, with what the benchmark needs to reach into it."""

    def __init__(self, var, port):
        self.var, self.port = var, port
        env = {name: value for name, value in os.environ.items()
               if name not in ("DATABASE_URL", "DATABASE_ADMIN_URL", "REDIS_URL", "SECRET_KEY")}  # fmt: skip
        # One key posting alerts all run long is a broker relay; its admin would raise its rate.
        self.env = {**env, "ARRAYSCOPE_VAR": str(var), "PORT": str(port), "API_RATE_PER_KEY": "100000/min"}
        self.launcher = subprocess.Popen([sys.executable, "-m", "portal.launcher", "run"], cwd=ROOT, env=self.env,
                                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
        self.said = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.launcher.stdout:
            self.said.append(line.rstrip())

    def wait_started(self, timeout=900):
        deadline = time.monotonic() + timeout
        while not any("Press Ctrl-C to stop." in line for line in self.said):
            if self.launcher.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the portal did not start:\n" + "\n".join(self.said[-30:]))
            time.sleep(0.5)
        issued = subprocess.run(
            [sys.executable, "-m", "portal.launcher", "manage", "issue_api_key", "demo", "demo-partner", "--scope",
             "write", "--name", "faults"], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        self.key = issued.stdout.strip().splitlines()[-1]
        self._join()

    def _join(self):
        """Django set up on the portal's embedded servers (the alert packets' reader needs its
        settings), and the owner's database URL, to look at what was stored."""
        from portal.launcher import Stack

        for name in ("DATABASE_URL", "DATABASE_ADMIN_URL", "REDIS_URL", "SECRET_KEY"):
            os.environ.pop(name, None)
        os.environ.update(Stack(self.var, "arrayscope", join_running=True).start().env)
        os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings"
        self.admin_url = os.environ["DATABASE_ADMIN_URL"]
        import django

        django.setup()

    def stop(self):
        self.launcher.send_signal(signal.SIGINT)
        self.launcher.wait(120)

    def healthy(self):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=5) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def pid(self, part):
        """The process of ``part`` now: the embedded servers from their pid files, the rest
        from the launcher's children by the log each writes."""
        if part in ("redis", "postgresql"):
            pidfile = self.var / ("redis/redis.pid" if part == "redis" else "pg/postmaster.pid")
            try:
                pid = int(pidfile.read_text().split()[0])
                return pid if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE else None
            except (FileNotFoundError, ValueError, IndexError, psutil.Error):
                return None
        for child in psutil.Process(self.launcher.pid).children():
            try:
                if any(Path(f.path).name == f"{part}.log" for f in child.open_files()):
                    return child.pid
            except psutil.Error:
                continue
        return None

    def kill(self, part):
        pid = self.pid(part)
        if part in ("redis", "postgresql"):
            os.kill(pid, signal.SIGKILL)
        else:
            os.killpg(pid, signal.SIGKILL)  # a worker's pool processes with it
        return pid

    def replay_stands(self):
        """(file, packets of it handled) of the demo's replayed night; None while PostgreSQL is down."""
        try:
            with psycopg.connect(self.admin_url, connect_timeout=3) as conn:
                return conn.execute("SELECT replayed_file, replayed_count FROM alerts_alertstream "
                                    "WHERE name = 'demo-night'").fetchone()  # fmt: skip
        except psycopg.Error:
            return None

    def night_missing(self):
        """(packets of the replayed night up to where it stands that are not stored, those packets)."""
        from alerts.avro import read_alerts

        file, count = self.replay_stands()
        sent = []
        for path in sorted((self.var / "alerts" / "demo").glob("*.avro")):
            if path.name <= file:
                with path.open("rb") as night:
                    sent += [record["candid"] for record in read_alerts(night)][: None if path.name < file else count]
        with psycopg.connect(self.admin_url) as conn:
            found = conn.execute("SELECT candidate_id FROM alerts_alert WHERE candidate_id = ANY(%s)", [sent])
            stored = {candidate_id for (candidate_id,) in found}
        return len(set(sent) - stored), len(sent)


class Feed:
    """The demo's live feed as a dashboard reads it: every alert sent, reconnecting from the
    last id seen whenever the connection drops (a part killed under it)."""

    def __init__(self, portal):
        self.portal, self.last_id = portal, 0
        self.received, self.twice, self.reconnections = {}, 0, 0
        self.done = threading.Event()
        threading.Thread(target=self._listen, daemon=True).start()

    def _listen(self):
        from websockets.sync.client import connect

        while not self.done.is_set():
            url = f"ws://127.0.0.1:{self.portal.port}/ws/t/demo/alerts/?key={self.portal.key}&after={self.last_id}"
            try:
                with connect(url, additional_headers={"Origin": "http://127.0.0.1"}, open_timeout=5) as socket:
                    while not self.done.is_set():
                        try:
                            message = json.loads(socket.recv(timeout=1))
                        except TimeoutError:
                            continue
                        if message["type"] == "alert":
                            self._record(message["alert"])
            except Exception:  # the connection dropped or was refused: a dashboard reconnects
                self.reconnections += 1
                time.sleep(0.5)

    def _record(self, alert):
        candidate = alert["candidate_id"]
        if candidate in self.received:
            self.twice += 1
        else:
            self.received[candidate] = time.monotonic()
        self.last_id = max(self.last_id, alert["id"])


class Producer:
    """A partner POSTing one alert every 1/rate s, each until the portal accepts it."""

    def __init__(self, portal, alerts, rate):
        self.portal, self.alerts, self.rate = portal, alerts, rate
        self.sent, self.retries = {}, 0  # candid -> when first POSTed
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        started = time.monotonic()
        for index, alert in enumerate(self.alerts):
            time.sleep(max(0.0, started + index / self.rate - time.monotonic()))
            if self.stop.is_set():
                return
            self.sent[alert["candid"]] = time.monotonic()
            body = json.dumps(alert).encode()
            while not self._post(body):
                self.retries += 1
                time.sleep(0.5)

    def _post(self, body):
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.portal.port}/api/v1/alerts/", data=body, method="POST",
            headers={"Authorization": f"Api-Key {self.portal.key}", "Content-Type": "application/json"},
        )  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status in (200, 201)
        except (urllib.error.URLError, OSError):
            return False


def recover(portal, feed, producer, part, timeout=120):
    """Kill ``part``; seconds until it runs again and /healthz is 200, and until alerts flow
    again (None: not within ``timeout``)."""
    before = portal.replay_stands()
    killed_at, old = time.monotonic(), portal.kill(part)

    def flowing():
        if part == "alerts":
            return (portal.replay_stands() or before) > before
        return any(sent > killed_at and candidate in feed.received for candidate, sent in list(producer.sent.items()))

    checks = {"healthy_again_s": lambda: portal.pid(part) not in (None, old) and portal.healthy(),
              "alerts_flow_again_s": flowing}  # fmt: skip
    seconds = {}
    while len(seconds) < len(checks) and time.monotonic() - killed_at < timeout:
        for name, check in checks.items():
            if name not in seconds and check():
                seconds[name] = round(time.monotonic() - killed_at, 1)
        time.sleep(0.25)
    return {name: seconds.get(name) for name in checks}


def wait_for(check, timeout):
    deadline = time.monotonic() + timeout
    while not check() and time.monotonic() < deadline:
        time.sleep(0.25)


def delivered(feed, producer, alerts, drain_s=60):
    """(lost, p50 seconds from POST to websocket) of ``alerts``, once the feed has had ``drain_s`` to catch up."""
    candidates = [alert["candid"] for alert in alerts if alert["candid"] in producer.sent]
    wait_for(lambda: all(candidate in feed.received for candidate in candidates), drain_s)
    arrived = [feed.received[c] - producer.sent[c] for c in candidates if c in feed.received]
    return len(candidates) - len(arrived), round(statistics.median(arrived), 3) if arrived else None


def run(quick):
    from alert_latency import packets

    rate, baseline_s, settle_s = (2.0, 15, 5) if quick else (5.0, 60, 15)
    parts = ["redis", "postgresql", "worker-gpu", "alerts"] if quick else PARTS
    budget_s = baseline_s + len(parts) * (2 * GOAL_S + settle_s) + 60
    with tempfile.TemporaryDirectory(prefix="arrayscope-faults-") as tmp:
        portal = Portal(Path(tmp) / "var", _free_port())
        try:
            portal.wait_started()
            everything = packets(int(rate * budget_s))
            feed = Feed(portal)
            baseline_count = int(rate * baseline_s)
            producer = Producer(portal, everything, rate)
            time.sleep(baseline_s)
            baseline_lost, baseline_p50 = delivered(feed, producer, everything[:baseline_count])
            baseline = {"alerts_sent": baseline_count, "lost": baseline_lost, "delivered_twice": feed.twice,
                        "post_to_websocket_p50_s": baseline_p50}  # fmt: skip
            twice_before, figures = feed.twice, {"rate_per_s": rate, "parts": {}}
            for part in parts:
                figures["parts"][part] = recover(portal, feed, producer, part)
                time.sleep(settle_s)
            producer.stop.set()
            producer.thread.join(60)
            faulted = everything[baseline_count:]
            lost, p50 = delivered(feed, producer, faulted)
            missing, replayed = portal.night_missing()
            feed.done.set()
        finally:
            portal.stop()
    times = [value for part in figures["parts"].values() for value in part.values()]
    figures.update({
        "alerts_sent": len([a for a in faulted if a["candid"] in producer.sent]), "lost": lost,
        "delivered_twice": feed.twice - twice_before, "post_to_websocket_p50_s": p50,
        "posts_sent_again": producer.retries, "websocket_reconnections": feed.reconnections,
        "replayed_packets": replayed, "replayed_packets_missing": missing,
        "worst_recovery_s": None if None in times else max(times),
    })  # fmt: skip
    # What the launcher said of each part it restarted, for the reader of the run.
    print(*(line for line in portal.said if "restart" in line or "did not start" in line), sep="\n", file=sys.stderr)
    return figures, baseline


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 alerts a second; Redis, PostgreSQL, the gpu "
                                                            "worker and the consumer only")  # fmt: skip
    args = parser.parse_args()
    figures, baseline = run(args.quick)
    worst = figures["worst_recovery_s"]
    ratio = {
        "worst_recovery_over_goal": None if worst is None else round(worst / GOAL_S, 2),
        "p50_over_baseline": round(figures["post_to_websocket_p50_s"] / max(baseline["post_to_websocket_p50_s"], 1e-3),
                                   2) if figures["post_to_websocket_p50_s"] else None,
    }  # fmt: skip
    print(json.dumps({"benchmark": "faults", "machine": machine(), "figures": figures, "baseline": baseline,
                      "ratio": ratio}))  # fmt: skip


if __name__ == "__main__":
    main()
