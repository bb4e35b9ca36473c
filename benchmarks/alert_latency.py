"""Alert latency: from a partner's POST to a dashboard's websocket, classification in the path.

Starts a throw-away portal as ``./arrayscope run`` does (embedded PostgreSQL and Redis, a
``default`` and a ``gpu`` Celery worker, Daphne), serves a real-bogus and a light-curve
version (their speed does not depend on what they learnt), and subscribes a websocket client
to a filter every alert meets. A producer then POSTs synthetic alerts to the API at a steady
rate (100/s for 60 s by default) while the client records when each arrives. Figures: p50 and
p99 latency from the start of the POST to receipt (and p99 from when the POST was due: a
server that falls behind starts later POSTs late), the rate the POSTs achieved, the
count lost, and the share of stamps the readers handed to astropy instead of their fast
paths. With ``--bulk-ms 50`` a second run on the same portal POSTs a list of the
alerts due every 50 ms instead, as a partner streaming 100 a second would (figures under
``bulk``). With ``--kill-worker``
the gpu worker is killed (SIGKILL) halfway and started again; alerts it held are sent out by
the new worker when it starts. Baseline, same run: the round trip of a bare websocket echo
through the same Daphne and Redis channel layer — the floor for any push. Each run also
reports the cores each part of the stack kept busy while the alerts were sent.

    python benchmarks/alert_latency.py [--quick] [--rate 100] [--seconds 60] [--kill-worker] [--bulk-ms 50]
"""

import argparse
import asyncio
import base64
import copy
import json
import os
import signal
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from embedded_portal import embedded_portal, machine


def packets(count):
    """``count`` distinct ZTF-schema packets for the API, stamps in base64; 200 drawn, then
    copied under new candidate ids, names and positions."""
    from alerts.synthetic import make_alert

    drawn = []
    for seed in range(min(count, 200)):
        packet = make_alert(seed).packet
        for field in ("cutoutScience", "cutoutTemplate", "cutoutDifference"):
            packet[field]["stampData"] = base64.b64encode(packet[field]["stampData"]).decode()
        drawn.append(packet)
    out = []
    for index in range(count):
        packet = copy.deepcopy(drawn[index % len(drawn)])
        packet["candid"] = 10**15 + index
        packet["objectId"] = f"ZTF26bench{index:06d}"
        packet["candidate"]["ra"] = (index * 0.37) % 360
        out.append(packet)
    return out


def stamps_via_astropy(sample):
    """The share of stamps the readers could not take on their fast paths and handed to
    astropy: the FITS check at ingest (web) and the pixels the real-bogus model reads (gpu
    worker). Counted by the readers themselves, on the distinct packets the producer sends,
    which the web server and the worker read the same way."""
    from alerts.features import stamp_triplet
    from alerts.packets import read_packet
    from observations.fits import READS

    before = dict(READS)
    for packet in sample:
        stamps = read_packet(packet).stamps
        stamp_triplet(stamps["science"], stamps["template"], stamps["difference"])
    counted = {key: READS[key] - before.get(key, 0) for key in READS}
    shares = {}
    for step in ("header", "pixels"):
        slow, fast = counted.get(f"{step} astropy", 0), counted.get(f"{step} fast", 0)
        shares[f"{step}_share"] = round(slow / max(1, slow + fast), 3)
    return shares


def serve_models(tenant):
    from mlmodels import services
    from mlmodels.registry import save_version
    from mlmodels.runtime import build_network
    from mlmodels.training import weights_of

    for name, task in (("real-bogus", "real_bogus"), ("light-curve", "light_curve")):
        model = services.create_task_model(tenant, None, name=name, task=task)
        network = build_network(model.architecture, num_classes=len(model.class_names),
                                in_chans=len(model.input_spec["bands"]))  # fmt: skip
        services.promote_version(save_version(model, None, weights=weights_of(network)), None)


def _part(process):
    """Which part of the stack a process on this machine is, by its command line."""
    command = " ".join(process.info["cmdline"] or [process.info["name"] or ""])
    if process.pid == os.getpid():
        return "benchmark producer and client"
    for needle, part in (("daphne", "web"), ("-Q gpu-batch", "gpu-batch worker"), ("-Q gpu", "gpu worker"),
                         ("-Q default", "default worker"), ("postgres", "postgres"), ("redis", "redis")):  # fmt: skip
        if needle in command:
            return part
    return None


def cpu_seconds():
    """{pid: (part, CPU seconds so far)} of the stack's processes."""
    import psutil

    seconds = {}
    for process in psutil.process_iter(["cmdline", "name", "cpu_times"]):
        part = _part(process)
        if part is not None and process.info["cpu_times"] is not None:
            seconds[process.pid] = (part, process.info["cpu_times"].user + process.info["cpu_times"].system)
    return seconds


def cores_by_part(before, after, elapsed):
    """Cores each part kept busy on average between two ``cpu_seconds``: where the machine went."""
    cores = {}
    for pid, (part, seconds) in after.items():
        cores[part] = cores.get(part, 0.0) + (seconds - before.get(pid, (part, 0.0))[1]) / elapsed
    cores["all"] = sum(cores.values())
    return {part: round(value, 2) for part, value in sorted(cores.items(), key=lambda item: -item[1])}


def _quantile(values, q):
    return values[int(q * (len(values) - 1))]


def _ms(seconds):
    return round(1000 * seconds, 1)


def run(rate, seconds, kill_worker, bulk_ms=None):
    import urllib.request

    from websockets.asyncio.client import connect

    from alerts.models import AlertFilter
    from portal.launcher import (
        WORKER_CONCURRENCY,
        spawn,
        spawn_web,
        stop_processes,
        wait_healthy,
        worker_command,
    )
    from portal.models import ApiKey, Membership, Tenant
    from portal.tenancy import tenant_context

    tenant = Tenant.objects.create(slug="bench", name="Benchmark")
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user("bench", password="x")
    with tenant_context(tenant):
        Membership.objects.create(tenant=tenant, user=user, role="admin")
        _, key = ApiKey.issue(tenant=tenant, created_by=user, name="bench", scope="write")
        serve_models(tenant)
        every = AlertFilter.objects.create(tenant=tenant, user=user, name="every", conditions={"brighter_than": 30})
    # One key posting 100 alerts a second is a broker relay; its admin would raise its rate.
    env = {**os.environ, "SECURE_SSL_REDIRECT": "0", "SECURE_COOKIES": "0", "SECURE_HSTS_SECONDS": "0",
           "API_RATE_PER_KEY": "100000/min"}  # fmt: skip
    log_dir = __import__("pathlib").Path(os.environ["ARRAYSCOPE_VAR"]) / "log"
    port = 8000 + os.getpid() % 1000
    processes = {queue: spawn(f"worker-{queue}", worker_command(queue), env, log_dir) for queue in WORKER_CONCURRENCY}
    processes.update((server.name, server) for server in spawn_web("127.0.0.1", port, env, log_dir))
    try:
        wait_healthy(f"http://127.0.0.1:{port}/healthz", list(processes.values()), timeout=180)
        count = int(rate * seconds)
        everything = packets(count * (2 if bulk_ms else 1) + 10)
        sent, scheduled, received, echo, duplicates = {}, {}, {}, [], set()
        stored_to_socket = {}  # seconds from the row's received_at to the client's receipt, same clock
        headers = {"Authorization": f"Api-Key {key}"}
        feed_url = f"ws://127.0.0.1:{port}/ws/t/{tenant.slug}/alerts/?filter={every.pk}"
        ready, done = threading.Event(), threading.Event()

        async def listen():
            async with connect(feed_url, additional_headers={**headers, "Origin": "http://127.0.0.1"}) as socket:
                while json.loads(await socket.recv())["type"] != "caught_up":
                    pass
                for _ in range(20):  # the floor: a ping's round trip over the same socket
                    started = time.perf_counter()
                    pong = await socket.ping()
                    await pong
                    echo.append(time.perf_counter() - started)
                ready.set()
                while not done.is_set():
                    try:
                        message = json.loads(await asyncio.wait_for(socket.recv(), timeout=1))
                    except TimeoutError:
                        continue
                    if message["type"] == "alert":
                        candidate = message["alert"]["candidate_id"]
                        if candidate in received:
                            duplicates.add(candidate)
                            continue
                        received[candidate] = time.perf_counter()
                        stored = datetime.fromisoformat(message["alert"]["received_at"]).timestamp()
                        stored_to_socket[candidate] = time.time() - stored

        listener = threading.Thread(target=lambda: asyncio.run(listen()), daemon=True)
        listener.start()
        assert ready.wait(60), "the websocket did not connect"

        def post(packets, due):
            """POST one packet (or, in bulk, a list) at ``due``; latency counts from the POST's start
            (``sent``), and from ``due`` too: when the server falls behind, later POSTs start late."""
            time.sleep(max(0.0, due - time.perf_counter()))
            body = json.dumps(packets[0] if len(packets) == 1 else packets).encode()
            request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/alerts/", data=body, method="POST",
                                             headers={**headers, "Content-Type": "application/json"})  # fmt: skip
            now = time.perf_counter()
            for packet in packets:
                sent[packet["candid"]], scheduled[packet["candid"]] = now, due
            with urllib.request.urlopen(request, timeout=30) as response:
                assert response.status == 201, response.read()
            return time.perf_counter()

        # Warm up: the gpu worker loads torch and the two networks on its first alert.
        warm = everything[-10:]
        for packet in warm:
            post([packet], 0)
        deadline = time.perf_counter() + 120
        while any(packet["candid"] not in received for packet in warm) and time.perf_counter() < deadline:
            time.sleep(0.1)

        def phase(batch, per_post, kill):
            """Send ``batch`` at ``rate`` alerts a second, ``per_post`` alerts a POST; wait for them all."""
            start = time.perf_counter() + 1
            killed_at, cpu_before, cpu_since = None, cpu_seconds(), time.perf_counter()
            posts = [batch[index : index + per_post] for index in range(0, len(batch), per_post)]
            with ThreadPoolExecutor(16) as pool:
                futures = [pool.submit(post, packets, start + index * per_post / rate)
                           for index, packets in enumerate(posts)]  # fmt: skip
                if kill:
                    time.sleep(max(0.0, start + seconds / 2 - time.perf_counter()))
                    os.killpg(processes["gpu"].pid, signal.SIGKILL)
                    processes["gpu"].wait()
                    killed_at = time.perf_counter() - start
                    processes["gpu"] = spawn("worker-gpu", worker_command("gpu"), env, log_dir)
                finished = max(future.result() for future in futures)
            cores = cores_by_part(cpu_before, cpu_seconds(), time.perf_counter() - cpu_since)
            timed = {packet["candid"] for packet in batch}
            deadline = time.perf_counter() + 120
            while len(timed & received.keys()) < len(batch) and time.perf_counter() < deadline:
                time.sleep(0.2)
            arrived = timed & received.keys()
            latencies = sorted(received[c] - sent[c] for c in arrived)
            late = sorted(received[c] - scheduled[c] for c in arrived)
            stages = sorted(stored_to_socket[c] for c in arrived)  # where the time goes: after the POST stored it
            return {
                "alerts_sent": len(batch), "alerts_per_post": per_post, "rate_per_s": rate, "seconds": seconds,
                "posted_rate_per_s": round(len(batch) / (finished - start), 1), "received": len(latencies),
                "lost": len(batch) - len(latencies), "p50_ms": _ms(_quantile(latencies, 0.5)),
                "p99_ms": _ms(_quantile(latencies, 0.99)), "max_ms": _ms(latencies[-1]),
                "p99_from_schedule_ms": _ms(_quantile(late, 0.99)),
                "each_received_once": not duplicates & timed,
                "stored_to_websocket_p50_ms": _ms(_quantile(stages, 0.5)),
                "stored_to_websocket_p99_ms": _ms(_quantile(stages, 0.99)),
                "gpu_worker_killed_at_s": None if killed_at is None else round(killed_at, 1),
                "cpu_cores_by_part_while_sending": cores,
            }  # fmt: skip

        figures = phase(everything[:count], 1, kill_worker)
        figures["stamps_via_astropy"] = stamps_via_astropy(everything[: min(count, 200)])
        if bulk_ms:
            per_post = max(1, round(rate * bulk_ms / 1000))
            figures["bulk"] = {"post_every_ms": bulk_ms, **phase(everything[count : 2 * count], per_post, False)}
        done.set()
        listener.join(5)
    except Exception:
        for path in sorted(log_dir.glob("*.log")):  # the portal's own account of what went wrong
            print(f"--- {path.name}", *path.read_text(errors="replace").splitlines()[-30:], sep="\n", file=sys.stderr)
        raise
    finally:
        stop_processes(list(processes.values()))
    baseline = {"websocket_round_trip_p50_ms": round(1000 * statistics.median(echo), 2)}
    return figures, baseline


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 alerts a second for 10 s")
    parser.add_argument("--rate", type=float, default=100.0, help="alerts a second")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--kill-worker", action="store_true", help="kill the gpu worker halfway and restart it")
    parser.add_argument("--bulk-ms", type=float, default=None,
                        help="then a second run on the same portal, the producer POSTing a list of what it has every "
                             "this many ms, as a partner streaming alerts would; figures under 'bulk'")  # fmt: skip
    args = parser.parse_args()
    rate, seconds = (20.0, 10.0) if args.quick else (args.rate, args.seconds)
    with embedded_portal("arrayscope-alerts-"):
        figures, baseline = run(rate, seconds, args.kill_worker, args.bulk_ms)
    floor = max(baseline["websocket_round_trip_p50_ms"], 0.01)
    ratio = {"p50_over_websocket_floor": round(figures["p50_ms"] / floor, 1)}
    if "bulk" in figures:
        ratio["bulk_p50_over_websocket_floor"] = round(figures["bulk"]["p50_ms"] / floor, 1)
    print(json.dumps({"benchmark": "alert_latency", "machine": machine(), "figures": figures, "baseline": baseline,
                      "ratio": ratio}))  # fmt: skip


if __name__ == "__main__":
    main()
