"""What the HTTP benchmarks share: many clients at once on keep-alive connections, as browsers
and partners' scripts hold them, cheap enough that fifty of them leave the server the cores,
and the CPU each part of the portal spent meanwhile."""

import asyncio
import time
from collections import Counter, defaultdict


class Browser:
    """One client (a volunteer's browser, a partner's script), as far as the server can tell: a
    keep-alive HTTP/1.1 connection and the cookies it was given. A few lines of asyncio so that fifty of them cost the
    measuring process little of the two cores the server also runs on."""

    def __init__(self, port):
        self.port, self.cookies, self.reader, self.writer = port, {}, None, None

    async def request(self, method, path, body=b"", headers=()):
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{self.port}", f"Content-Length: {len(body)}",
                 *(f"{name}: {value}" for name, value in headers)]  # fmt: skip
        if self.cookies:
            lines.append("Cookie: " + "; ".join(f"{name}={value}" for name, value in self.cookies.items()))
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        status = int((await self.reader.readline()).split()[1])
        length, chunked, close = 0, False, False
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            name, value = name.strip().lower(), value.strip()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding":
                chunked = "chunked" in value.lower()
            elif name == "connection":
                close = value.lower() == "close"
            elif name == "set-cookie":
                cookie, _, rest = value.partition("=")
                self.cookies[cookie] = rest.split(";")[0]
        data = await self._chunked() if chunked else await self.reader.readexactly(length)
        if close:
            self.writer.close()
            self.writer = None
        return status, data

    async def _chunked(self):
        parts = []
        while size := int((await self.reader.readline()).split(b";")[0], 16):
            parts.append(await self.reader.readexactly(size))
            await self.reader.readline()
        await self.reader.readline()
        return b"".join(parts)

    def close(self):
        if self.writer is not None:
            self.writer.close()


async def cycles(seconds, every, rng):
    """Yield once a cycle until ``seconds`` are up: at once after the last (``every`` None: as fast
    as the server answers), or every ``every`` seconds from a random start (a paced crowd)."""
    now = time.perf_counter()
    deadline, start = now + seconds, now + (rng.uniform(0, every) if every else 0)
    while (now := time.perf_counter()) < deadline:
        if every:
            await asyncio.sleep(max(0.0, start - now))
            start += every
        yield


def cpu_seconds(servers):
    """CPU seconds used so far by the web processes, PostgreSQL's and Redis's, and this one."""
    import psutil

    def used(process):
        try:
            times = process.cpu_times()
            return times.user + times.system
        except psutil.Error:
            return 0.0

    parts = Counter({server.name: used(psutil.Process(server.pid)) for server in servers})
    parts["clients"] = used(psutil.Process())
    for process in psutil.process_iter(["name", "cmdline"]):
        command = " ".join(process.info["cmdline"] or [process.info["name"] or ""])
        for part in ("postgres", "redis"):
            if part in command and "webserver" not in command:
                parts[part] += used(process)
    return parts


def crowd(make_clients, servers):
    """Run the clients together; (wall seconds, their shared results, CPU seconds per part)."""
    results = defaultdict(list, statuses=Counter(), resubmitted_counted=0, cycles=0)

    async def together():
        await asyncio.gather(*make_clients(results))

    before, started = cpu_seconds(servers), time.perf_counter()
    asyncio.run(together())
    wall, after = time.perf_counter() - started, cpu_seconds(servers)
    return wall, results, {part: after[part] - before[part] for part in after}
