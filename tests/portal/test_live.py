"""The live plumbing end to end: a real worker on the gpu queue, progress over a real
websocket through the Redis channel layer, and /healthz on the running parts."""

import asyncio

from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client, override_settings

from mlmodels.tasks import accelerator_selftest
from portal.asgi import application
from portal.health import check_workers
from portal.models import Job
from portal.progress import start_job
from portal.tenancy import tenant_context


def _session_cookie(user):
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


def _communicator(path, session=None):
    headers = [(b"origin", b"http://127.0.0.1")]
    if session:
        headers.append((b"cookie", f"sessionid={session}".encode()))
    return WebsocketCommunicator(application, path, headers=headers)


def _try_connect(path, session=None):
    """(connected, close code) for a websocket opened on ``path``."""

    async def connect():
        communicator = _communicator(path, session)
        result = await communicator.connect()
        await communicator.disconnect()
        return result

    return async_to_sync(connect)()


def _new_job(tenant, user, total=10):
    with tenant_context(tenant):
        return start_job(tenant=tenant, user=user, kind="selftest", title="self-test", total=total)


def _where_it_stands(tenant, job):
    """The job's stored state and what the gpu worker is busy with: why progress is late."""
    from portal.celery import app

    with tenant_context(tenant):
        job.refresh_from_db()
    inspect = app.control.inspect(timeout=2)
    return (f"job {job.pk} is {job.status} {job.done}/{job.total} ({job.message!r}); "
            f"workers' active tasks: {inspect.active()}, reserved: {inspect.reserved()}")  # fmt: skip


def _progress_seen(tenant, user, job, *, size, steps, quiet_s=0, timeout=60):
    """Every state of ``job`` its page hears over the websocket, from "queued" (on connecting)
    to the end of a self-test run on the gpu worker, started ``quiet_s`` seconds later."""

    async def watch():
        communicator = _communicator(f"/ws/t/{tenant.slug}/jobs/{job.pk}/", _session_cookie(user))
        try:
            assert (await communicator.connect())[0]
            states = [await communicator.receive_json_from(timeout=5)]
            await asyncio.sleep(quiet_s)
            accelerator_selftest.delay(tenant.pk, job.pk, size=size, steps=steps)
            while states[-1]["status"] not in ("succeeded", "failed"):
                try:
                    states.append(await communicator.receive_json_from(timeout=timeout))
                except TimeoutError:
                    stands = await sync_to_async(_where_it_stands)(tenant, job)
                    raise AssertionError(f"no progress for {timeout} s after {states}: {stands}") from None
            return states
        finally:
            await communicator.disconnect()  # the consumer lets go of the channel layer

    return async_to_sync(watch)()


def test_selftest_runs_on_a_gpu_worker_and_its_progress_arrives_over_the_websocket(workers, committed_tenant_factory):
    tenant, users = committed_tenant_factory()
    job = _new_job(tenant, users["admin"])
    states = _progress_seen(tenant, users["admin"], job, size=256, steps=10)
    assert states[0]["status"] == "queued" and states[0]["percent"] == 0
    assert states[-1]["status"] == "succeeded" and states[-1]["percent"] == 100
    percents = [state["percent"] for state in states]
    assert percents == sorted(percents) and len(set(percents)) >= 5, percents
    assert states[-1]["result"]["worker"].startswith("gpu@")
    with tenant_context(tenant):
        stored = Job.objects.get(pk=job.pk)
    assert stored.status == "succeeded" and stored.result["median_gflops"] > 0


def test_a_job_page_quiet_for_a_while_still_gets_the_next_progress(workers, committed_tenant_factory):
    """Training reports once an epoch: a page must keep listening through the quiet between."""
    tenant, users = committed_tenant_factory()
    job = _new_job(tenant, users["admin"], total=5)
    # longer than a consumer's blocking wait on Redis
    states = _progress_seen(tenant, users["admin"], job, size=64, steps=5, quiet_s=8, timeout=20)
    assert states[-1]["status"] == "succeeded"


def test_websocket_refuses_a_visitor_who_is_not_signed_in(committed_tenant_factory):
    tenant, users = committed_tenant_factory()
    job = _new_job(tenant, users["admin"])
    assert _try_connect(f"/ws/t/{tenant.slug}/jobs/{job.pk}/") == (False, 4403)


def test_websocket_refuses_a_member_of_another_tenant(committed_tenant_factory):
    tenant, users = committed_tenant_factory()
    _, outsiders = committed_tenant_factory()
    job = _new_job(tenant, users["admin"])
    session = _session_cookie(outsiders["admin"])
    assert _try_connect(f"/ws/t/{tenant.slug}/jobs/{job.pk}/", session) == (False, 4403)


def test_healthz_reports_every_part_when_all_are_up(workers, committed):
    response = Client().get("/healthz")
    assert response.status_code == 200
    parts = response.json()["parts"]
    assert int(parts["postgres"]["version"].split(".")[0]) >= 17
    assert tuple(int(n) for n in parts["postgres"]["pgvector"].split(".")[:2]) >= (0, 8)
    assert parts["redis"]["version"]
    assert parts["workers"]["queues"]["default"] and parts["workers"]["queues"]["gpu"]


def test_healthz_answers_503_naming_the_queue_without_a_worker(workers, committed):
    from portal.celery import app

    gpu_worker = next(iter(check_workers()["queues"]["gpu"]))
    app.control.cancel_consumer("gpu", destination=[gpu_worker], reply=True)
    try:
        response = Client().get("/healthz")
    finally:
        app.control.add_consumer("gpu", destination=[gpu_worker], reply=True)
    assert response.status_code == 503
    assert any("queue gpu" in line for line in response.json()["down"])
    assert Client().get("/healthz").status_code == 200


def test_healthz_answers_503_naming_redis_when_it_is_down(committed):
    with override_settings(REDIS_URL="unix:///nonexistent/redis.sock"):
        response = Client().get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["parts"]["postgres"]["ok"] is True
    assert body["down"][0].startswith("redis:")
    assert "Redis is down" in body["parts"]["workers"]["error"]
