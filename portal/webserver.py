"""Daphne, with request bodies bounded as their bytes arrive: ``python -m portal.webserver``
takes Daphne's own arguments.

Daphne reads a whole request body before the application sees any of it, then queues all of
it to the application at once, in memory: a body of half a gigabyte cost a web process
gigabytes before Django's upload handlers could refuse it. Here the bytes are counted as
they arrive; past ``REQUEST_MAX_BYTES`` (or when the Content-Length says so) the rest is
discarded unread, and the request is answered 413, naming the limit, with the connection
closed: the application is never started and nothing is queued.
"""

import json

from daphne import http_protocol
from daphne.cli import CommandLineInterface
from django.conf import settings


class _Discarded:
    """Where the rest of a refused body goes while the connection closes."""

    def write(self, data):
        pass

    def close(self):
        pass


class BoundedWebRequest(http_protocol.WebRequest):
    received = 0

    def __init__(self, *args, **kwargs):
        # Twisted would parse a multipart body itself, whole in memory, into arguments Daphne
        # never reads, and answer one it cannot parse with a bare 400 the portal never sees.
        super().__init__(*args, **{**kwargs, "parsePOSTFormSubmission": False})

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
        body = json.dumps({"type": "about:blank", "status": 413, "title": "Content Too Large",
                           "detail": f"the request body is larger than the limit of {limit:,} bytes "
                                     f"({limit / 2**20:g} MiB)"}).encode()  # fmt: skip
        head = b"HTTP/1.1 413 Content Too Large\r\nContent-Type: application/problem+json\r\nConnection: close\r\n"
        self.channel.transport.write(head + b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        self.channel.transport.loseConnection()


http_protocol.WebRequest = BoundedWebRequest  # what daphne's HTTPFactory gives each connection

if __name__ == "__main__":
    CommandLineInterface.entrypoint()
