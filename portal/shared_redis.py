"""One Redis client a process, shared by its threads, for what Django's cache cannot do
(sorted sets, marks set only if absent with an expiry of their own, pipelines).

Not Django's cache: the ASGI server runs each request in a new thread, and the cache's client
is per thread, so each request would open a connection to Redis of its own."""

import functools

import redis
from django.conf import settings


@functools.cache
def shared_redis():
    return redis.Redis.from_url(settings.REDIS_URL)
