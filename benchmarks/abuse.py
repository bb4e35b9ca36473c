"""Abuse: the bombs an attacker sends, against a running portal, and what they cost its web processes.

Starts a throw-away portal as ``./arrayscope run`` does (embedded PostgreSQL and Redis, the
Daphne web processes; no workers: nothing here reaches them) and, through the partner API,
sends in turn: an upload one byte over ``FRAME_MAX_BYTES`` (refused by Django's upload
handlers), one 2 MiB over it (past ``REQUEST_MAX_BYTES``: refused by the web server before
the application sees it); a gzipped frame of a few hundred
kilobytes that inflates to 604 MB; an alert whose three stamps each inflate from about 100 kB
to 100 MB; a 64 MiB alert packet of empty lists; the largest batch of alerts (1,000 packets
with stamps, about 70 MB). While each is answered, every web process's resident memory is sampled (psutil,
every 10 ms). Figures per bomb: the answer's status and seconds, each process's peak RSS,
its growth over its idle RSS, and what it still holds two seconds later. Baseline, same run:
each process's idle RSS, measured after every kind of request has been served once, so
lazily loaded modules are not counted as growth. Goal: no process grows by more than 200 MB.

Then the fixed fuzz run of tests/api_fuzz.py (the one the fuzz test makes, with more examples:
FUZZ_EXAMPLES per operation and generation mode, derandomized) against the same portal, as
the tenant admin's key: the count of 5xx answers (goal 0), of 4xx not said as problem+json,
and of refused requests after which the tenant had more or fewer rows.

    python benchmarks/abuse.py [--quick]

``--quick`` sets FRAME_MAX_BYTES to 64 MiB, makes the bombs a quarter of the size and the fuzz
run QUICK_FUZZ_EXAMPLES per operation and mode.
"""

import argparse
import base64
import copy
import gzip
import http.client
import json
import os
import threading
import time
import uuid
import zlib

from alert_latency import packets
from embedded_portal import embedded_portal, machine

from tests.api_fuzz import fuzz_api, tenant_rows, wait_answering

MB = 10**6
GOAL_GROWTH_MB = 200
FUZZ_EXAMPLES, QUICK_FUZZ_EXAMPLES = 10, 3


def fits_header(width, height):
    cards = ["SIMPLE  = T", "BITPIX  = -32", "NAXIS   = 2", f"NAXIS1  = {width}", f"NAXIS2  = {height}", "END"]
    header = b"".join(card.ljust(80).encode() for card in cards)
    return header + b" " * (-len(header) % 2880)


def gzip_bomb(width, height):
    """A gzipped FITS image of zeros, compressed a megabyte at a time (never whole in memory)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    parts = [compressor.compress(fits_header(width, height))]
    left = width * height * 4
    chunk = bytes(2**20)
    while left:
        parts.append(compressor.compress(chunk[: min(left, len(chunk))]))
        left -= min(left, len(chunk))
    parts.append(compressor.flush())
    return b"".join(parts)


class Multipart:
    """A multipart body of one file of ``size`` zero bytes, streamed to the socket in 1 MiB chunks."""

    def __init__(self, size, data=None):
        self.boundary = uuid.uuid4().hex
        self.head = (f"--{self.boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"bomb.fits\"\r\n"
                     "Content-Type: application/octet-stream\r\n\r\n").encode()  # fmt: skip
        self.tail = f"\r\n--{self.boundary}--\r\n".encode()
        self.data, self.size = data, size if data is None else len(data)

    def __len__(self):
        return len(self.head) + self.size + len(self.tail)

    def __iter__(self):
        yield self.head
        if self.data is not None:
            yield self.data
        else:
            left, chunk = self.size, bytes(2**20)
            while left:
                yield chunk[: min(left, len(chunk))]
                left -= min(left, len(chunk))
        yield self.tail


class Sampler:
    """The peak RSS of each process while a request is answered."""

    def __init__(self, processes):
        self.processes = processes
        self.peaks = {}
        self.running = threading.Event()

    def rss(self):
        return {name: process.memory_info().rss for name, process in self.processes.items()}

    def __enter__(self):
        self.peaks = self.rss()
        self.running.set()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self):
        while self.running.is_set():
            for name, rss in self.rss().items():
                self.peaks[name] = max(self.peaks[name], rss)
            time.sleep(0.01)

    def __exit__(self, *exc):
        self.running.clear()
        self.thread.join()


def post(port, path, body, headers, timeout=600):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("POST", path, body=body, headers={**headers, "Content-Length": str(len(body))})
        response = connection.getresponse()
        return response.status, response.read()[:300].decode(errors="replace")
    except (ConnectionError, http.client.HTTPException) as error:  # a server may drop an oversize request
        return 0, f"connection closed: {error}"
    finally:
        connection.close()


def many_values(size):
    """One alert packet of ``size`` bytes that is nearly all empty lists: JSON decoded whole
    would cost about 30 bytes of memory a byte of it."""
    head, tail = b'[{"candidate": [', b"[]]}]"
    return head + b"[]," * ((size - len(head) - len(tail)) // 3) + tail


def stamp_packet(stamp):
    from alerts.synthetic import make_alert

    packet = copy.deepcopy(make_alert(7).packet)
    for field in ("cutoutScience", "cutoutTemplate", "cutoutDifference"):
        packet[field]["stampData"] = base64.b64encode(stamp).decode()
    return packet


def run(quick):
    import psutil

    from portal.launcher import spawn_web, stop_processes
    from portal.models import ApiKey, Membership, Tenant
    from portal.tenancy import tenant_context

    frame_limit = (64 if quick else 512) * 2**20
    scale = 4 if quick else 1
    tenant = Tenant.objects.create(slug="abuse", name="Abuse")
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user("abuse", password="x")
    with tenant_context(tenant):
        Membership.objects.create(tenant=tenant, user=user, role="admin")
        _, key = ApiKey.issue(tenant=tenant, created_by=user, name="abuse", scope="write")
    env = {**os.environ, "SECURE_SSL_REDIRECT": "0", "SECURE_COOKIES": "0", "SECURE_HSTS_SECONDS": "0",
           "FRAME_MAX_BYTES": str(frame_limit), "NAME_RESOLVER_URLS": "http://127.0.0.1:9/"}  # fmt: skip
    log_dir = __import__("pathlib").Path(os.environ["ARRAYSCOPE_VAR"]) / "log"
    port = 8000 + os.getpid() % 1000
    servers = spawn_web("127.0.0.1", port, env, log_dir)
    try:
        wait_answering(f"http://127.0.0.1:{port}")
        processes = {server.name: psutil.Process(server.pid) for server in servers}
        auth = {"Authorization": f"Api-Key {key}"}
        bombs = {
            "oversize_upload": lambda: Multipart(frame_limit + 1),
            "oversize_request": lambda: Multipart(frame_limit + 2**21),  # past REQUEST_MAX_BYTES
            "gzip_inflated_frame": lambda: Multipart(0, gzip_bomb(12288 // (2 if quick else 1),
                                                                  12288 // (2 if quick else 1))),
            "inflated_stamps": lambda: json.dumps(stamp_packet(gzip_bomb(5000 // scale, 5000 // scale))).encode(),
            "alerts_many_values": lambda: many_values(64 * 2**20 // scale),
            "alerts_largest_batch": lambda: json.dumps(packets(1000 // scale)).encode(),
        }  # fmt: skip
        small = {"frame": Multipart(0, gzip.compress(fits_header(8, 8) + bytes(256))),
                 "alert": json.dumps(stamp_packet(gzip.compress(fits_header(8, 8) + bytes(256)))).encode()}  # fmt: skip
        for _ in range(4 * len(servers)):  # every kind of request served once by every process
            _send(port, auth, small["frame"])
            _send(port, auth, small["alert"])
        time.sleep(1)
        figures, baseline = {}, {}
        for name, make in bombs.items():
            body = make()
            idle = Sampler(processes).rss()
            started = time.perf_counter()
            with Sampler(processes) as sampler:
                status, answer = _send(port, auth, body)
            seconds = time.perf_counter() - started
            time.sleep(2)
            after = Sampler(processes).rss()
            growth = {proc: round((sampler.peaks[proc] - idle[proc]) / MB, 1) for proc in processes}
            figures[name] = {
                "request_mb": round(len(body) / MB, 2), "status": status, "answer": answer[:200],
                "seconds": round(seconds, 2), "peak_rss_mb": {p: round(v / MB, 1) for p, v in sampler.peaks.items()},
                "growth_mb": growth, "kept_mb": {p: round((after[p] - idle[p]) / MB, 1) for p in processes},
                "max_growth_mb": max(growth.values()),
            }  # fmt: skip
            baseline[name] = {"idle_rss_mb": {p: round(v / MB, 1) for p, v in idle.items()}}
        figures["frame_max_bytes"] = frame_limit
        figures["goal_max_growth_mb"] = GOAL_GROWTH_MB
        figures["within_goal"] = all(figures[name]["max_growth_mb"] <= GOAL_GROWTH_MB for name in bombs)
        figures["fuzz"] = fuzz_figures(port, key, tenant, QUICK_FUZZ_EXAMPLES if quick else FUZZ_EXAMPLES)
        return figures, baseline, list(bombs)
    finally:
        stop_processes(servers)


def _send(port, auth, body):
    if isinstance(body, Multipart):
        headers = {**auth, "Content-Type": f"multipart/form-data; boundary={body.boundary}"}
        return post(port, "/api/v1/frames/upload/", body, headers)
    return post(port, "/api/v1/alerts/", body, {**auth, "Content-Type": "application/json"})


def fuzz_figures(port, key, tenant, examples):
    report = fuzz_api(f"http://127.0.0.1:{port}", key, max_examples=examples, count_rows=tenant_rows(tenant))
    return {
        "examples_per_operation_and_mode": examples,
        "calls": report.calls,
        "server_errors": len(report.server_errors),
        "goal_server_errors": 0,
        "not_problem_json": len(report.not_problems),
        "refusals_leaving_rows": len(report.rows_left),
        "statuses": report.statuses,
        "first_server_errors": report.server_errors[:5],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="FRAME_MAX_BYTES 64 MiB, bombs a quarter the size")
    args = parser.parse_args()
    with embedded_portal("arrayscope-abuse-"):
        figures, baseline, bombs = run(args.quick)
    ratio = {}
    for name in bombs:
        idle = baseline[name]["idle_rss_mb"]
        ratio[f"{name}_peak_over_idle"] = max(round(figures[name]["peak_rss_mb"][p] / idle[p], 2) for p in idle)
    print(json.dumps({"benchmark": "abuse", "machine": machine(), "figures": figures, "baseline": baseline,
                      "ratio": ratio}))  # fmt: skip


if __name__ == "__main__":
    main()
