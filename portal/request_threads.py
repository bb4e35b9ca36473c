"""Django's ASGI handler, with each request's synchronous part run on a thread kept for the
next request.

Django runs a request's middleware and view in a ``ThreadSensitiveContext`` of their own, and
asgiref gives each such context a new one-thread executor: every request started a thread
and joined it at the end. Profiled under fifty volunteers classifying, starting and joining
those threads was a fifth of a web process's CPU. asgiref lets the caller own the executor
(``ThreadSensitiveContext(executor=…)``, not shut down on exit), so here each request takes an
idle one and gives it back: one thread per request still (what thread-sensitive code, and
Django's per-thread database connections, rely on), never a new one while one is idle. The
threads are as many as the most requests ever served at once.
"""

from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import ThreadSensitiveContext
from django.core.handlers.asgi import ASGIHandler


class ReusedThreadsASGIHandler(ASGIHandler):
    def __init__(self):
        super().__init__()
        self._idle = []

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        executor = self._idle.pop() if self._idle else ThreadPoolExecutor(1, thread_name_prefix="request")
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self.handle(scope, receive, send)
        finally:
            self._idle.append(executor)
