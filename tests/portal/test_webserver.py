"""The web server reads no request body past REQUEST_MAX_BYTES: a larger one is answered 413
naming the limit, whether its Content-Length says so or it arrives in chunks, and the server
goes on serving."""

import http.client
import json
import socket

import pytest

from portal.launcher import spawn_web, stop_processes
from tests.conftest import _free_port, _log_dir, _service_env
from tests.waiting import eventually

LIMIT = 100_000


@pytest.fixture(scope="module")
def bounded_server():
    port = _free_port()
    env = {**_service_env(), "REQUEST_MAX_BYTES": str(LIMIT)}
    servers = spawn_web("127.0.0.1", port, env, _log_dir(), name="test-bounded-web", count=1)
    eventually(lambda: _post(port, b"", {}), 60, "the server to start", interval=0.3, ignoring=(OSError,))
    yield port
    stop_processes(servers)


def _post(port, body, headers):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("POST", "/api/v1/frames/upload/", body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def test_a_body_over_the_limit_is_refused_naming_it(bounded_server):
    status, answer = _post(bounded_server, bytes(LIMIT + 1), {"Content-Type": "application/octet-stream"})
    assert status == 413 and "larger than the limit of 100,000 bytes" in answer


def test_a_chunked_body_is_counted_as_it_arrives(bounded_server):
    chunks = (bytes(10_000) for _ in range(20))  # no Content-Length: http.client sends it chunked
    status, answer = _post(bounded_server, chunks, {"Content-Type": "application/octet-stream"})
    assert status == 413 and "larger than the limit of 100,000 bytes" in answer


def test_a_body_under_the_limit_reaches_the_portal(bounded_server):
    status, answer = _post(bounded_server, bytes(LIMIT - 1000), {"Content-Type": "application/octet-stream"})
    assert status in (401, 403, 415) and "larger than the limit" not in answer


def test_a_multipart_body_twisted_cannot_parse_reaches_the_portal(bounded_server):
    """Found by the fuzz run (test_api_fuzz): Twisted parsed multipart bodies itself and answered
    one it could not (no parts) with a bare, empty 400; the portal answers it, as a problem."""
    status, answer = _post(bounded_server, b"--b--\r\n", {"Content-Type": "multipart/form-data; boundary=b"})
    assert status == 401 and json.loads(answer)["status"] == 401


@pytest.mark.parametrize("head, said", [
    (b"GET /api/v1/sites/?q=" + b"x" * 20_000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
     "the request line or a header is longer than 16,384 bytes"),
    (b"GET /api/v1/sites/ HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"".join(b"X-Pad-%d: %s\r\n" % (n, b"y" * 1000)
                                                                    for n in range(20)) + b"\r\n",
     "the request line and headers together are longer than 16,384 bytes"),
    (b"GET /api/v1/sites/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: lots\r\n\r\n",
     "the request is not well-formed HTTP"),
])  # fmt: skip
def test_a_head_the_server_refuses_is_answered_saying_why(bounded_server, head, said):
    with socket.create_connection(("127.0.0.1", bounded_server), timeout=30) as connection:
        connection.sendall(head)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    problem = json.loads(rest.partition(b"\r\n\r\n")[2])
    assert int(status_line.split()[1]) == problem["status"] in (400, 431) and said in problem["detail"]
