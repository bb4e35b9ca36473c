"""The health of the parts the portal needs, as shown on /healthz and the tenant home."""

import redis
from django.conf import settings
from django.db import connection

from .celery import app as celery_app

QUEUES = ("default", "gpu", "gpu-batch")


def check_postgres():
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0]
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        row = cursor.fetchone()
    if row is None:
        raise RuntimeError("the pgvector extension is not installed in this database")
    return {"version": version, "pgvector": row[0]}


def check_redis():
    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    try:
        return {"version": client.info("server")["redis_version"]}
    finally:
        client.close()


def check_workers(timeout=1.0):
    """Live Celery workers per queue, from the workers' own answers to a broadcast."""
    replies = celery_app.control.inspect(timeout=timeout).active_queues() or {}
    workers = {queue: [] for queue in QUEUES}
    for hostname, queues in replies.items():
        for queue in queues:
            workers.setdefault(queue["name"], []).append(hostname)
    missing = [queue for queue in QUEUES if not workers[queue]]
    if missing:
        raise RuntimeError(f"no live Celery worker on queue {', '.join(missing)}")
    return {"queues": workers}


def portal_health():
    """Run every check; a part that fails is reported by name with its reason.

    Workers are reached through Redis, so with Redis down they are reported as unknown
    rather than waited for.
    """
    report = {"ok": True, "parts": {}, "down": []}
    for name, check in (("postgres", check_postgres), ("redis", check_redis), ("workers", check_workers)):
        if name == "workers" and not report["parts"]["redis"]["ok"]:
            error = RuntimeError("cannot be asked while Redis is down")
        else:
            try:
                report["parts"][name] = {"ok": True, **check()}
                continue
            except Exception as caught:  # each part's failure is reported, never raised
                error = caught
        report["ok"] = False
        report["parts"][name] = {"ok": False, "error": str(error)}
        report["down"].append(f"{name}: {error}")
    return report
