"""How long the run command takes to serve a healthy portal.

Measures the time from starting ``./arrayscope run`` to a 200 on /healthz with a live
worker on each queue: cold (a fresh data folder: initdb, migrations, demo data) and warm
(the same folder again). Baseline, same run: a bare Celery worker with no Django, on the
same embedded Redis, until it answers a ping — the floor for having any worker up.
The virtual environment is assumed installed (the first ``./arrayscope`` call does that).

    python benchmarks/startup.py [--quick]
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
import time
import urllib.error
import urllib.request
from pathlib import Path

from embedded_portal import ROOT, machine

from portal.embedded import EmbeddedRedis

BARE_APP = """
from celery import Celery
app = Celery("bare", broker={broker!r})
"""


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def healthy(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def time_portal_start(var_dir):
    port = free_port()
    env = {**os.environ, "ARRAYSCOPE_VAR": str(var_dir), "PORT": str(port)}
    for name in ("DATABASE_URL", "DATABASE_ADMIN_URL", "REDIS_URL"):
        env.pop(name, None)
    started = time.perf_counter()
    process = subprocess.Popen(
        [str(ROOT / "arrayscope"), "run"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        while not healthy(f"http://127.0.0.1:{port}/healthz"):
            if process.poll() is not None:
                raise SystemExit(f"the portal exited: {process.stderr.read().decode()}")
            if time.perf_counter() - started > 300:
                raise SystemExit("the portal was not healthy after 300 s")
            time.sleep(0.1)
        return time.perf_counter() - started
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(60)


def time_bare_worker(var_dir):
    redis = EmbeddedRedis(var_dir).start()
    broker = "redis+socket://" + str(redis.socket)
    app_dir = Path(var_dir) / "bare"
    app_dir.mkdir()
    (app_dir / "bareapp.py").write_text(BARE_APP.format(broker=broker))
    sys.path.insert(0, str(app_dir))
    from bareapp import app

    started = time.perf_counter()
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "bareapp", "worker", "-c", "1", "--without-gossip", "--without-mingle"],
        cwd=app_dir,
        env={k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
        stdout=subprocess.DEVNULL,
        stderr=open(app_dir / "worker.log", "wb"),
    )
    try:
        while not app.control.ping(timeout=0.2):
            if worker.poll() is not None or time.perf_counter() - started > 120:
                raise SystemExit(f"the bare worker did not answer: {(app_dir / 'worker.log').read_text()[-2000:]}")
        return time.perf_counter() - started
    finally:
        worker.terminate()
        worker.wait(30)
        redis.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one warm start instead of three")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="arrayscope-startup-") as tmp:
        var_dir = Path(tmp) / "var"
        cold = time_portal_start(var_dir)
        warm = [time_portal_start(var_dir) for _ in range(1 if args.quick else 3)]
        bare = time_bare_worker(Path(tmp))
    warm_median = statistics.median(warm)
    print(
        json.dumps(
            {
                "benchmark": "startup",
                "machine": machine(),
                "figures": {
                    "cold_start_s": round(cold, 2),
                    "warm_start_s": round(warm_median, 2),
                    "warm_runs_s": [round(value, 2) for value in warm],
                    "goal_warm_start_s": 15,
                },
                "baseline": {"bare_celery_worker_s": round(bare, 2)},
                "ratio": {
                    "warm_over_bare_worker": round(warm_median / bare, 2),
                    "cold_over_warm": round(cold / warm_median, 2),
                },
            }
        )
    )


if __name__ == "__main__":
    main()
