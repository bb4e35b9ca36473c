"""Django's ASGI handler, with each request's synchronous part run in one step on a thread kept
for the next request.

Every view and middleware of the portal is synchronous. Django's own ASGI handler still
runs a request as if they might not be: the ``request_started`` signal, the middleware chain,
the view (called back from inside the chain through the event loop) and the response's
``close`` each cross between the event loop and a thread, five crossings a request. Profiled
under fifty volunteers classifying, those crossings (futures, locks, wake-ups of the loop)
cost a web process more CPU than the views' own work. Here the request is read on the loop,
everything from ``request_started`` to ``close`` runs in one call on a thread, and the answer
is sent from the loop: one crossing. A streaming response (a file) is closed after it is
sent, in a second one, as Django does.

Django runs that synchronous part in a ``ThreadSensitiveContext`` of its own, and asgiref
gives each such context a new one-thread executor: every request started a thread and joined
it at the end, a fifth of a web process's CPU under the same load. asgiref lets the caller own
the executor (``ThreadSensitiveContext(executor=…)``, not shut down on exit), so each request
takes an idle one and gives it back: one thread per request still (what thread-sensitive code,
and Django's per-thread database connections, rely on), never a new one while one is idle.
The threads are as many as the most requests ever served at once.

At most ``DATABASE_POOL_SIZE`` requests of a process run on threads at once; the others wait
on the event loop, where waiting costs nothing. With fifty volunteers' requests each on a thread
of its own, the threads spent their time handing the GIL to each other and waiting for one of
the pool's connections: capped, the same server took about a fifth more submissions a second.

What Django's handler does and this one does not: cancel the view when the client hangs up
before the answer (a synchronous view runs to its end either way; the answer to a closed
connection is dropped by the server).
"""

import asyncio
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.conf import settings
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.base import BaseHandler
from django.http import FileResponse
from django.urls import set_script_prefix


class ReusedThreadsASGIHandler(ASGIHandler):
    def __init__(self):
        BaseHandler.__init__(self)
        self.load_middleware(is_async=False)  # a synchronous chain, called on the request's thread
        self._idle = []
        self._slots = asyncio.Semaphore(settings.DATABASE_POOL_SIZE or 64)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        executor = self._idle.pop() if self._idle else ThreadPoolExecutor(1, thread_name_prefix="request")
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self.handle(scope, receive, send)
        finally:
            self._idle.append(executor)

    async def handle(self, scope, receive, send):
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        try:
            async with self._slots:
                response = await sync_to_async(self._respond, thread_sensitive=True)(scope, body_file)
            await self.send_response(response, send)
            if response.streaming:
                await sync_to_async(response.close, thread_sensitive=True)()
        finally:
            body_file.close()

    def _respond(self, scope, body_file):
        """The response to the request, as Django's synchronous handlers make it; closed
        (``request_finished`` sent) unless it streams, since its content is all in hand."""
        set_script_prefix(get_script_prefix(scope))
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, response = self.create_request(scope, body_file)
        if request is not None:
            response = self.get_response(request)
            response._handler_class = self.__class__
            if isinstance(response, FileResponse):
                response.block_size = self.chunk_size  # the server chunks the file, not Django
        if not response.streaming:
            response.close()
        return response
