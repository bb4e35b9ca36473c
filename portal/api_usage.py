"""Each API key's calls, errors and rate refusals per UTC day, for its tenant's admins.

Counted in Redis, in the round trip that already counts the key's rate (a call must not pay a
database write to be seen), and kept ``USAGE_DAYS`` days. While Redis is down nothing is
counted, as nothing is limited."""

import logging
from datetime import timedelta

from django.utils import timezone

from .shared_redis import REDIS_FAILURES, shared_redis

logger = logging.getLogger(__name__)
USAGE_DAYS = 30
FIELDS = ("calls", "errors", "throttled")


def _day_key(key_pk, day):
    return f"arrayscope:api-usage:{key_pk}:{day.isoformat()}"


def call_tally(key_pk):
    """(Redis hash, field, seconds kept) that one call of key ``key_pk`` adds to, today: the
    rate limit counts it with the call (portal.throttling.spend_each)."""
    return _day_key(key_pk, timezone.now().date()), "calls", USAGE_DAYS * 86400


def count_error(key_pk, status, *, call_counted):
    """A call of key ``key_pk`` answered ``status`` (4xx or 5xx); a 429 is also a rate refusal.
    A call refused before its rate was counted (out of its scopes, its role's rights) is
    counted as a call here."""
    name = _day_key(key_pk, timezone.now().date())
    try:
        with shared_redis().pipeline(transaction=False) as pipe:
            if not call_counted:
                pipe.hincrby(name, "calls", 1)
            pipe.hincrby(name, "errors", 1)
            if status == 429:
                pipe.hincrby(name, "throttled", 1)
            pipe.expire(name, USAGE_DAYS * 86400)
            pipe.execute()
    except REDIS_FAILURES as error:
        logger.warning("API key usage not counted: Redis is unreachable (%s)", error)


def daily_usage(key_pks, days=14):
    """{key pk: {"days": [date, …], "calls": [...], "errors": [...], "throttled": [...]}} over the
    last ``days`` UTC days, oldest first, in one round trip; zeros while Redis is down."""
    today = timezone.now().date()
    dates = [today - timedelta(days=back) for back in range(days - 1, -1, -1)]
    key_pks = list(key_pks)
    try:
        with shared_redis().pipeline(transaction=False) as pipe:
            for key_pk in key_pks:
                for day in dates:
                    pipe.hmget(_day_key(key_pk, day), FIELDS)
            counts = iter(pipe.execute())
    except REDIS_FAILURES as error:
        logger.warning("API key usage not read: Redis is unreachable (%s)", error)
        counts = iter([[None] * len(FIELDS)] * len(key_pks) * len(dates))
    usage = {}
    for key_pk in key_pks:
        rows = [[int(value or 0) for value in next(counts)] for _ in dates]
        usage[key_pk] = {"days": dates, **{field: [row[i] for row in rows] for i, field in enumerate(FIELDS)}}
    return usage
