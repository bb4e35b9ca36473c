"""Waiting for work done elsewhere (a worker, a server, a child process): the one way tests wait.

A test that waits asks a question until the answer will do, and when time runs out says what
it was waiting for and the last answer it got, so a slow machine and a broken feature read
differently in the report.
"""

import time

_NOTHING_YET = object()


def eventually(condition, timeout=60, message="the condition to hold", *, until=bool, interval=0.2, ignoring=()):
    """``condition()``'s first answer that ``until`` accepts (by default, a true one), asked
    every ``interval`` seconds for ``timeout`` seconds. An exception of a type in ``ignoring``
    counts as "not yet" (a server still starting refuses connections). Fails with ``message``
    and the last answer seen."""
    deadline = time.monotonic() + timeout
    last = _NOTHING_YET
    while True:
        try:
            last = condition()
        except ignoring as error:
            last = error
        else:
            if until(last):
                return last
        if time.monotonic() >= deadline:
            seen = "no answer" if last is _NOTHING_YET else repr(last)
            raise AssertionError(f"waited {timeout} s for {message}; last seen: {seen}")
        time.sleep(interval)


def finished(tenant, job, timeout=120, message=None):
    """``job`` (a ``portal.models.Job``) fresh from the database once a worker has finished it,
    whether it succeeded or failed: the test then says which it expected."""
    from portal.models import Job
    from portal.tenancy import tenant_context

    def state():
        with tenant_context(tenant):
            job.refresh_from_db()
        return f"{job.status} {job.done}/{job.total}: {job.message}"

    eventually(state, timeout, message or f"job {job.pk} ({job.kind}) to finish",
               until=lambda _: job.status in (Job.Status.SUCCEEDED, Job.Status.FAILED))  # fmt: skip
    return job
