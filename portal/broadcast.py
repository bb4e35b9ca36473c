"""The latest state of a thing, pushed to the pages watching it at most a few times a second,
from a thread of the process's own.

A busy citizen-science project counts hundreds of classifications a second; sending each
to the channel layer from the request that made it would cost every request a hop into an
event loop and a Redis round trip per watching page, for counters no one can read that
fast. Here a request only hands over the newest message for the group; a background event
loop sends the newest one per group at most every ``EVERY_S`` seconds, and always the last
one given (a burst's final state is never held back for longer than that).
"""

import asyncio
import logging
import math
import threading

from channels.layers import get_channel_layer

from .shared_redis import REDIS_FAILURES

logger = logging.getLogger(__name__)

EVERY_S = 0.25


class _Broadcaster:
    def __init__(self):
        self.lock = threading.Lock()
        self.latest = {}  # group -> the newest message not yet sent
        self.sent_at = {}  # group -> the loop's time of its last send
        self.loop = None

    def send_latest(self, group, message):
        with self.lock:
            waiting = group in self.latest
            self.latest[group] = message
            if self.loop is None:
                self.loop = asyncio.new_event_loop()
                threading.Thread(target=self.loop.run_forever, name="broadcast", daemon=True).start()
        if not waiting:
            self.loop.call_soon_threadsafe(self._schedule, group)

    def _schedule(self, group):
        delay = max(0.0, self.sent_at.get(group, -math.inf) + EVERY_S - self.loop.time())
        self.loop.call_later(delay, lambda: self.loop.create_task(self._send(group)))

    async def _send(self, group):
        with self.lock:
            message = self.latest.pop(group)
        self.sent_at[group] = self.loop.time()
        try:
            await get_channel_layer().group_send(group, message)
        except (*REDIS_FAILURES, OSError) as error:  # the pages catch up with the next message
            logger.warning("not sent to %s: Redis is unreachable (%s)", group, error)


_broadcaster = _Broadcaster()


def send_latest(group, message):
    """Have ``message`` (a channel-layer event) reach ``group`` soon, unless a newer one for the
    same group replaces it first."""
    _broadcaster.send_latest(group, message)
