"""A project's live counters: classifications, galaxies retired and in the set, volunteers
active in the last ten minutes.

Every submit answers with them and every page watching the project is sent them, so they
are read far more often than anything else in the app; counting them in PostgreSQL costs a
scan of the project's classifications each time (a million-vote project: most of a second).
They are kept in Redis instead: set to zero when the project is created, incremented after
each classification commits (and each subject set's), and read in one round trip.

When Redis has lost them (restarted without its data) the first read counts them again in
the database, which stays the truth; an increment finds them missing and leaves them to that
count, so none is added twice. While Redis is down they are counted in the database. What
is not exact: a classification committed during that one recount and counted in neither
(one in a million votes, after a Redis restart, on a counter shown to people).
"""

import logging
import time
from datetime import timedelta

from django.db.models import Max
from django.utils import timezone

from portal.shared_redis import REDIS_FAILURES, shared_redis
from portal.tenancy import tenant_context

from .models import Classification

logger = logging.getLogger(__name__)
# Add to counters that exist; leave missing ones missing (a read will count them).
_ADD_IF_KEPT = """
if redis.call('exists', KEYS[1]) == 0 then return 0 end
for i, key in ipairs(KEYS) do redis.call('incrby', key, ARGV[i]) end
return 1
"""
# The same for a volunteer's own count, a field of one hash per project.
_ADD_TO_FIELD_IF_KEPT = """
if redis.call('hexists', KEYS[1], ARGV[1]) == 1 then return redis.call('hincrby', KEYS[1], ARGV[1], 1) end
return 0
"""
ACTIVE_S = 600  # a volunteer counts as active for ten minutes after a classification
COUNTS = ("classifications", "retired", "subjects")


def _key(project, name):
    return f"arrayscope:labeling:{project.pk}:{name}"


def progress(project):
    """{"classifications", "retired", "subjects", "volunteers_active"} for the project now."""
    return progress_and_mine(project)[0]


def progress_and_mine(project, voter=None):
    """(the project's ``progress``, how many classifications ``voter`` has made in it, or None
    without a voter), read in one round trip: a volunteer's every submit is answered with both."""
    active, mine = _key(project, "active"), _key(project, "mine")
    try:
        with shared_redis().pipeline(transaction=False) as pipe:
            pipe.mget([_key(project, name) for name in COUNTS])
            pipe.zremrangebyscore(active, "-inf", time.time() - ACTIVE_S)
            pipe.zcard(active)
            if voter is not None:
                pipe.hget(mine, voter)
            values, _, volunteers_active, *kept = pipe.execute()
    except REDIS_FAILURES as error:
        logger.warning("project counters counted in the database: Redis is unreachable (%s)", error)
        return _count_in_database(project)[0], voter and _mine_in_database(project, voter)
    if None in values:
        counts = recount(project)
    else:
        counts = {**{name: int(value) for name, value in zip(COUNTS, values)}, "volunteers_active": volunteers_active}
    if voter is None:
        return counts, None
    return counts, int(kept[0]) if kept[0] is not None else _keep_mine(project, voter)


def started(project):
    """A new project counts from zero."""
    _keep(project, dict.fromkeys(COUNTS, 0), {})


def recount(project):
    """Count the project's counters in the database and keep them in Redis."""
    counts, last_seen = _count_in_database(project)
    _keep(project, counts, last_seen)
    return counts


def _keep(project, counts, last_seen):
    active = _key(project, "active")
    try:
        with shared_redis().pipeline() as pipe:  # MULTI: no reader sees some counters set and not others
            for name in COUNTS:
                pipe.set(_key(project, name), counts[name], nx=True)  # a recount racing another sets once
            if last_seen:
                pipe.zadd(active, {voter: seen.timestamp() for voter, seen in last_seen.items()})
                pipe.expire(active, ACTIVE_S)
            pipe.execute()
    except REDIS_FAILURES as error:
        logger.warning("project counters not kept: Redis is unreachable (%s)", error)


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


def classified_by(project, voter):
    """How many classifications ``voter`` has made in the project (their own counter)."""
    try:
        kept = shared_redis().hget(_key(project, "mine"), voter)
    except REDIS_FAILURES as error:
        logger.warning("a volunteer's count came from the database: Redis is unreachable (%s)", error)
        return _mine_in_database(project, voter)
    return int(kept) if kept is not None else _keep_mine(project, voter)


def _keep_mine(project, voter):
    """Count ``voter``'s classifications in the database and keep the count in Redis (its
    increments go on from there)."""
    count = _mine_in_database(project, voter)
    try:
        shared_redis().hsetnx(_key(project, "mine"), voter, count)
    except REDIS_FAILURES as error:
        logger.warning("a volunteer's count was not kept: Redis is unreachable (%s)", error)
    return count


def _mine_in_database(project, voter):
    with tenant_context(project.tenant):
        return Classification.objects.filter(project=project, voter=voter).count()


def count_classification(project, voter, *, retired):
    """A classification by ``voter`` was committed (and retired its galaxy if ``retired``)."""
    active = _key(project, "active")
    try:
        with shared_redis().pipeline(transaction=False) as pipe:
            pipe.eval(_ADD_IF_KEPT, 2, _key(project, "classifications"), _key(project, "retired"), 1, int(retired))
            pipe.eval(_ADD_TO_FIELD_IF_KEPT, 1, _key(project, "mine"), voter)
            pipe.zadd(active, {voter: time.time()})
            pipe.expire(active, ACTIVE_S)
            pipe.execute()
    except REDIS_FAILURES as error:
        logger.warning("a classification was not counted live: Redis is unreachable (%s)", error)


def forget(project):
    """The project's galaxies changed in bulk (an owner's new rules): count again at the next read."""
    try:
        shared_redis().delete(*[_key(project, name) for name in COUNTS])
    except REDIS_FAILURES as error:
        logger.warning("the project's counters were not refreshed: Redis is unreachable (%s)", error)


def count_subjects(project, added):
    """``added`` galaxies joined the project's set."""
    try:
        shared_redis().eval(_ADD_IF_KEPT, 1, _key(project, "subjects"), added)
    except REDIS_FAILURES as error:
        logger.warning("the project's galaxy count was not kept: Redis is unreachable (%s)", error)
