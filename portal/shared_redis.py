"""One Redis client a process, shared by its threads, for what Django's cache cannot do
(sorted sets, marks set only if absent with an expiry of their own, pipelines).

Not Django's cache: the ASGI server runs each request in a new thread, and the cache's client
is per thread, so each request would open a connection to Redis of its own."""

import functools

import redis
from django.conf import settings

# What a call may raise when Redis is down or stalled: redis-py reports a read that timed out
# during a connection's handshake as "ValueError: I/O operation on closed file" (it closes the
# buffer it then reads from), not as the TimeoutError underneath.
REDIS_FAILURES = (redis.RedisError, ValueError)
REDIS_TIMEOUT_S = 2


@functools.cache
def shared_redis():
    """The client; a stalled Redis (an append-only file waiting on a busy disk) holds a request
    for at most ``REDIS_TIMEOUT_S`` before its caller falls back. Request threads opening
    connections at once sometimes find a connection's reader gone mid-handshake (redis-py
    raises ``'NoneType' object has no attribute 'readline'``, an AttributeError its retry
    does not know, and a volunteer got a 500): that connection is dropped and made again, as
    for a connection error. RESP2: with redis-py 8's RESP3 default it happened far more often."""
    return redis.Redis.from_url(settings.REDIS_URL, protocol=2, socket_timeout=REDIS_TIMEOUT_S,
                                socket_connect_timeout=REDIS_TIMEOUT_S, retry_on_error=[AttributeError])  # fmt: skip
