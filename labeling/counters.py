"""A project's live counters: classifications, galaxies retired and in the set, volunteers
active in the last ten minutes.

Every submit answers with them and every page watching the project is sent them, so they
are read far more often than anything else in the app; counting them in PostgreSQL costs a
scan of the project's classifications each time (a million-vote project: most of a second).
They are kept in Redis instead: each counted classification increments them after it
commits, and a read is one round trip.

Redis keeps them for an hour at a time; when they are missing (the first read, Redis
restarted, the hour passed) they are counted again from the database, which stays the
truth. So an increment lost while Redis was unreachable is put right within the hour, and
with Redis down the counters are simply counted in the database.
"""

import logging
import time
from datetime import timedelta

from django.db.models import Max
from django.utils import timezone
from redis import RedisError

from portal.shared_redis import shared_redis
from portal.tenancy import tenant_context

from .models import Classification

logger = logging.getLogger(__name__)
RECOUNT_EVERY_S = 3600
ACTIVE_S = 600  # a volunteer counts as active for ten minutes after a classification
COUNTS = ("classifications", "retired", "subjects")


def _key(project, name):
    return f"arrayscope:labeling:{project.pk}:{name}"


def progress(project):
    """{"classifications", "retired", "subjects", "volunteers_active"} for the project now."""
    active = _key(project, "active")
    try:
        with shared_redis().pipeline(transaction=False) as pipe:
            pipe.mget([_key(project, name) for name in COUNTS])
            pipe.zremrangebyscore(active, "-inf", time.time() - ACTIVE_S)
            pipe.zcard(active)
            values, _, volunteers_active = pipe.execute()
    except RedisError as error:
        logger.warning("project counters counted in the database: Redis is unreachable (%s)", error)
        return _count_in_database(project)[0]
    if None in values:
        return recount(project)
    return {**{name: int(value) for name, value in zip(COUNTS, values)}, "volunteers_active": volunteers_active}


def recount(project):
    """Count the project's counters in the database and keep them in Redis for the next hour."""
    counts, last_seen = _count_in_database(project)
    active = _key(project, "active")
    try:
        with shared_redis().pipeline() as pipe:  # MULTI: no reader sees some counters set and not others
            for name in COUNTS:
                pipe.set(_key(project, name), counts[name], ex=RECOUNT_EVERY_S)
            pipe.delete(active)
            if last_seen:
                pipe.zadd(active, {voter: seen.timestamp() for voter, seen in last_seen.items()})
                pipe.expire(active, ACTIVE_S)
            pipe.execute()
    except RedisError as error:
        logger.warning("project counters not kept: Redis is unreachable (%s)", error)
    return counts


def _count_in_database(project):
    since = timezone.now() - timedelta(seconds=ACTIVE_S)
    with tenant_context(project.tenant):  # also when called after a commit, outside any request's scope
        classifications = Classification.objects.filter(project=project)
        last_seen = dict(classifications.filter(created_at__gte=since).values("voter")
                         .annotate(last=Max("created_at")).values_list("voter", "last"))  # fmt: skip
        counts = {
            "classifications": classifications.count(),
            "retired": project.subjects.filter(retired_at__isnull=False).count(),
            "subjects": project.subjects.count(),
            "volunteers_active": len(last_seen),
        }
    return counts, last_seen


def count_classification(project, voter, *, retired):
    """A classification by ``voter`` was committed (and retired its galaxy if ``retired``)."""
    active = _key(project, "active")
    try:
        with shared_redis().pipeline(transaction=False) as pipe:
            pipe.incr(_key(project, "classifications"))
            pipe.incrby(_key(project, "retired"), int(retired))
            pipe.zadd(active, {voter: time.time()})
            pipe.expire(active, ACTIVE_S)
            classifications, *_ = pipe.execute()
    except RedisError as error:
        logger.warning("a classification was not counted live: Redis is unreachable (%s)", error)
        return
    if classifications == 1:  # the counters had expired or were lost (or this is the first): count them
        recount(project)


def subjects_changed(project):
    """Galaxies were added to the set: count it again at the next read."""
    try:
        shared_redis().delete(_key(project, "subjects"))
    except RedisError as error:
        logger.warning("the project's galaxy count was not refreshed: Redis is unreachable (%s)", error)
