"""Daphne, with request bodies bounded as their bytes arrive and kept on disk, not in memory:
``python -m portal.webserver`` takes Daphne's own arguments.

Daphne reads a whole request body (into a temporary file) before the application sees any of
it, then queues all of it to the application at once, in memory; Twisted, under it, read
multipart bodies whole into memory once more to parse them for itself. A body of half a
gigabyte cost a web process gigabytes before Django's upload handlers could refuse it. Here:

- the bytes are counted as they arrive; past ``REQUEST_MAX_BYTES`` (or when the Content-Length
  says so) the rest is discarded unread, and the request is answered 413, naming the limit,
  with the connection closed: the application is never started and nothing is queued;
- Twisted does not parse bodies (Django does, from disk);
- the application reads the body from Daphne's temporary file a chunk at a time, as it asks
  for it, so a web process holds one chunk of a body at a time whatever its size.
"""

import asyncio
import json
import sys
from functools import partial

from daphne import http_protocol
from daphne.cli import CommandLineInterface
from daphne.server import Server
from django.conf import settings
from twisted.web import http

BODY_CHUNK_BYTES = 2**20
GIL_SWITCH_S = 0.0005


class _Discarded:
    """Where the rest of a refused body goes while the connection closes."""

    def write(self, data):
        pass

    def close(self):
        pass


class BoundedWebRequest(http_protocol.WebRequest):
    received = 0

    def __init__(self, *args, **kwargs):
        # Twisted would otherwise read a whole multipart or urlencoded body into memory and parse
        # it with the email package, for its own ``request.args``, which Daphne never reads (a
        # 64 MiB upload cost the process 800 MB), and answer one it cannot parse with a bare 400
        # the portal never sees. Django parses the body itself, from disk.
        super().__init__(*args, parsePOSTFormSubmission=False, **kwargs)

    def handleContentChunk(self, data):
        if isinstance(self.content, _Discarded):
            return
        self.received += len(data)
        if self.received > settings.REQUEST_MAX_BYTES:
            self._refuse()
            return
        super().handleContentChunk(data)

    def gotLength(self, length):
        super().gotLength(length)
        if length is not None and length > settings.REQUEST_MAX_BYTES:
            self._refuse()

    def _refuse(self):
        """Read no more of the body into anything: the rest is discarded as it arrives, so that
        the client, which is still sending, gets the answer once it is done."""
        self.content.close()
        self.content = _Discarded()

    def requestReceived(self, command, path, version):
        if not isinstance(self.content, _Discarded):
            return super().requestReceived(command, path, version)
        limit = settings.REQUEST_MAX_BYTES
        detail = f"the request body is larger than the limit of {limit:,} bytes ({limit / 2**20:g} MiB)"
        _answer_and_close(self.channel.transport, 413, "Content Too Large", detail)


def _answer_and_close(transport, status, title, detail):
    """A problem+json answer written straight to the connection, which is then closed: for
    requests refused before any application could see them."""
    body = json.dumps({"type": "about:blank", "status": status, "title": title, "detail": detail}).encode()
    head = b"HTTP/1.1 %d %s\r\nContent-Type: application/problem+json\r\nConnection: close\r\n" % (
        status,
        title.encode(),
    )
    transport.write(head + b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    transport.loseConnection()


def _line_too_long(channel, line):
    """Twisted drops the connection without a word on a request line or header over its
    MAX_LENGTH: a client with a long query string deserves to know why."""
    _answer_and_close(channel.transport, 431, "Request Header Fields Too Large",
                      f"the request line or a header is longer than {channel.MAX_LENGTH:,} bytes: "
                      "send a long query in a POST body")  # fmt: skip


def _head_refused(channel):
    """Twisted answers a bare 400 to a head it refuses; here it says which limit or rule."""
    if channel._receivedHeaderSize > channel.totalHeadersSize:
        detail = f"the request line and headers together are longer than {channel.totalHeadersSize:,} bytes"
        _answer_and_close(channel.transport, 431, "Request Header Fields Too Large", detail)
    else:
        _answer_and_close(channel.transport, 400, "Bad Request",
                          "the request is not well-formed HTTP (its request line, a header or its length)")  # fmt: skip


class RequestBody(asyncio.Queue):
    """The messages of one HTTP request to the application, its body read from the request's
    temporary file as the application asks for it.

    Daphne puts the body into this queue in chunks, all at once; they are dropped here, since
    the file they were read from holds them. ``get`` answers with the body, a chunk at a time,
    then with whatever else was queued (a disconnect). A body whose file was closed (the client
    went away) ends as a disconnect.
    """

    def __init__(self, request):
        super().__init__()
        self.content = request.content
        self.size = request.content.seek(0, 2)  # Daphne's own reading then finds nothing left
        self.offset = 0
        self.body_sent = False

    def put_nowait(self, message):
        if message["type"] != "http.request":
            super().put_nowait(message)

    async def get(self):
        if self.body_sent:
            return await super().get()
        if self.content.closed:
            self.body_sent = True
            return {"type": "http.disconnect"}
        self.content.seek(self.offset)
        chunk = self.content.read(BODY_CHUNK_BYTES)
        self.offset += len(chunk)
        self.body_sent = self.offset >= self.size
        return {"type": "http.request", "body": chunk, "more_body": not self.body_sent}


class BoundedServer(Server):
    def create_application(self, protocol, scope):
        """Daphne's own, with a ``RequestBody`` for HTTP requests in place of a plain queue."""
        if scope["type"] != "http":
            return super().create_application(protocol, scope)
        assert "application_instance" not in self.connections[protocol]
        input_queue = RequestBody(protocol)
        scope.setdefault("asgi", {"version": "3.0"})
        instance = self.application(scope=scope, receive=input_queue.get, send=partial(self.handle_reply, protocol))
        if protocol not in self.connections:
            return None
        self.connections[protocol]["application_instance"] = asyncio.ensure_future(
            instance, loop=asyncio.get_event_loop()
        )
        return input_queue


class WebServer(CommandLineInterface):
    server_class = BoundedServer


http_protocol.WebRequest = BoundedWebRequest  # what daphne's HTTPFactory gives each connection
http.HTTPChannel.lineLengthExceeded = _line_too_long
http.HTTPChannel._respondToBadRequestAndDisconnect = _head_refused

if __name__ == "__main__":
    # A web process runs the event loop and its requests' threads under one GIL. With Python's
    # default 5 ms between switches, a request that needs a millisecond waits behind the slices
    # of the CPU-bound ones beside it, several times over: at half load the volunteers' next
    # galaxy took 30 ms at the 95th percentile. A 0.5 ms slice halves that, for a few per cent
    # more CPU a request (benchmarks/labeling.py).
    sys.setswitchinterval(GIL_SWITCH_S)
    WebServer.entrypoint()
