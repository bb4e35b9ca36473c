"""Rate limits: API calls per key and per anonymous address, alerts sent per key, wrong key
secrets and failed sign-ins per address and per account.

Counters live in Redis, so every web process and replica counts the same calls (through
the process's one shared client: Django's cache opens a connection per request thread).
Fixed windows, one atomic ``INCR`` per call: cheaper than a sliding log, and a
client at the limit can at most double it across a window's edge, which is enough to stop
guessing and floods. Limits are settings (``API_RATE_PER_KEY``…) written as ``N/s``,
``N/min`` or ``N/h``.

While Redis is down nothing is counted and nothing refused: every caller would be refused
otherwise (a partner's alerts among them, which PostgreSQL can still store), and the
limits are back within seconds, when the launcher or the operator has restarted it.
"""

import logging
import math
import time

from django.conf import settings
from rest_framework import exceptions, throttling

from . import api_usage
from .models import ApiKey
from .shared_redis import REDIS_FAILURES, shared_redis

logger = logging.getLogger(__name__)
PERIODS = {"s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600, "hour": 3600}


class Limited(Exception):
    """Over a limit; ``retry_after`` says in how many seconds the window ends, ``scopes`` which
    budgets are spent."""

    def __init__(self, retry_after, scopes=()):
        super().__init__(f"retry after {retry_after} s")
        self.retry_after = retry_after
        self.scopes = scopes


def parse_rate(rate):
    """``"120/s"`` → (120, 1); ``"5/15min"`` → (5, 900)."""
    count, _, period = rate.partition("/")
    digits = period.rstrip("abcdefghijklmnopqrstuvwxyz")
    return int(count), (int(digits) if digits else 1) * PERIODS[period[len(digits) :]]


def _window(scope, ident, rate):
    limit, seconds = parse_rate(rate)
    number = int(time.time() // seconds)
    retry_after = max(1, math.ceil((number + 1) * seconds - time.time()))
    return f"arrayscope:throttle:{scope}:{ident}:{number}", limit, seconds, retry_after


def spend(scope, ident, rate, amount=1):
    """Count ``amount`` against ``ident``'s budget in ``scope``; Limited once it is spent."""
    spend_each([(scope, ident, rate)], amount)


def spend_each(budgets, amount=1, tally=None):
    """Count ``amount`` against every ``(scope, ident, rate)`` budget in one round trip (each of
    a volunteer's classifications counts against them and against their address), and add it
    to the ``(hash, field, seconds kept)`` of ``tally`` (a key's calls of the day); Limited once
    any budget is spent, retrying when the last of those spent allows."""
    windows = [_window(*budget) for budget in budgets]
    counts = _count([(key, seconds) for key, _, seconds, _ in windows], amount, tally)
    over = [(retry_after, scope) for (scope, _, _), (_, limit, _, retry_after), count in zip(budgets, windows, counts)
            if count > limit]  # fmt: skip
    if over:
        raise Limited(max(retry_after for retry_after, _ in over), [scope for _, scope in over])


def charge(scope, ident, rate, amount):
    """Count ``amount`` of work already done against ``ident``'s budget: work whose size is known
    only once it is done (the packets of a streamed body) is refused at the next ``check``."""
    key, _, seconds, _ = _window(scope, ident, rate)
    _count([(key, seconds)], amount)


def _count(windows, amount, tally=None):
    """Each (key, seconds) window's count after adding ``amount``, in one round trip."""
    try:
        with shared_redis().pipeline(transaction=False) as pipe:
            for key, seconds in windows:
                pipe.set(key, 0, ex=seconds + 1, nx=True)
                pipe.incrby(key, amount)
            if tally is not None:
                name, field, seconds = tally
                pipe.hincrby(name, field, amount)
                pipe.expire(name, seconds)
            return pipe.execute()[1 : 2 * len(windows) : 2]
    except REDIS_FAILURES as error:
        logger.warning("rate limits not counted: Redis is unreachable (%s)", error)
        return [0] * len(windows)


def check(scope, ident, rate):
    """Limited if ``ident`` has already spent its budget in ``scope``; spends nothing (failures
    are counted only when they happen, so a correct secret is never refused for the asking)."""
    key, limit, _, retry_after = _window(scope, ident, rate)
    try:
        spent = int(shared_redis().get(key) or 0)
    except REDIS_FAILURES as error:
        logger.warning("rate limits not checked: Redis is unreachable (%s)", error)
        return
    if spent >= limit:
        raise Limited(retry_after)


def client_address(request):
    """The caller's address, as DRF reads it (``NUM_PROXIES`` trusted ``X-Forwarded-For`` hops)."""
    return throttling.BaseThrottle().get_ident(request)


class ApiKeyRateThrottle(throttling.BaseThrottle):
    """Every API call counts against its key: the portal's limit for every key
    (``API_RATE_PER_KEY``) and the key's own, where a tenant admin set one; over either the
    call gets 429 with ``Retry-After`` and a detail naming the limit. The same round trip
    counts the call in the key's usage of the day. Calls without a key are counted by the
    authentication, which sees them before the permission check refuses them."""

    def allow_request(self, request, view):
        key = request.auth
        if not isinstance(key, ApiKey):
            return True
        budgets = [("api-key", key.pk, settings.API_RATE_PER_KEY)]
        if key.rate:
            budgets.append(("api-key-own", key.pk, key.rate))
        request.call_counted = True  # refused later or not, the call is in the key's use
        try:
            spend_each(budgets, tally=api_usage.call_tally(key.pk))
        except Limited as limited:
            limit = f"its own limit, {key.rate}, set by a tenant admin" if "api-key-own" in limited.scopes else (
                f"the portal's limit for every key, {settings.API_RATE_PER_KEY}")  # fmt: skip
            raise exceptions.Throttled(
                wait=limited.retry_after,
                detail=f"This API key has made more calls than {limit}; retry in {limited.retry_after} s.",
            ) from limited
        return True
