"""Keeps the parts of a portal on one machine running: a part that stops is started again.

A worker killed for its memory, a web process that crashed, the alert consumer, or the
embedded Redis or PostgreSQL: each is started again after a pause that doubles from 1 s to
30 s while it keeps stopping, and is back to 1 s once it has run for a minute, so a part that
cannot run does not spin the machine. Each stop, and each start again, is a line on the
launcher's output.

The servers come first: while one of them waits to start again, no process is restarted
(it would only fail against it). Processes that are still running are left alone when a
server stops: workers, web processes and the alert consumer wait for it and reconnect.
"""

import time

from .embedded import EmbeddedError

FIRST_PAUSE_S = 1
LONGEST_PAUSE_S = 30
HEALTHY_AFTER_S = 60


class Part:
    """One supervised part: ``start()`` starts it (raising OSError or EmbeddedError when it
    cannot), ``ended()`` says how it stopped, or None while it runs."""

    def __init__(self, name, start, ended):
        self.name, self._start, self._ended = name, start, ended
        self.pause = FIRST_PAUSE_S
        self.started_at = time.monotonic()
        self.restart_at = None  # set while it is down and waits for its pause to pass

    def watch(self, now, say):
        if self.restart_at is not None:
            return
        how = self._ended()
        if how is None:
            if now - self.started_at >= HEALTHY_AFTER_S:
                self.pause = FIRST_PAUSE_S
            return
        say(f"{self.name} {how}; restarting in {self.pause} s")
        self._wait(now)

    def restart_if_due(self, now, say):
        if self.restart_at is None or now < self.restart_at:
            return
        try:
            self._start()
        except (OSError, EmbeddedError) as error:
            say(f"{self.name} did not start again ({error}); next try in {self.pause} s")
            self._wait(now)
            return
        say(f"{self.name} restarted")
        self.restart_at, self.started_at = None, now

    def _wait(self, now):
        self.restart_at = now + self.pause
        self.pause = min(2 * self.pause, LONGEST_PAUSE_S)


def child(name, spawn):
    """A process the launcher started with ``spawn()``; ``part.process`` is the current one."""

    def start():
        part.process = spawn()

    def ended():
        code = part.process.poll()
        return None if code is None else f"exited (code {code})"

    part = Part(name, start, ended)
    part.process = spawn()
    return part


class Supervisor:
    """Checked by the launcher's loop (``tick``): servers first, then the processes."""

    def __init__(self, servers, children, say=print):
        self.servers, self.children = list(servers), list(children)
        self.say = lambda line: say(line, flush=True)

    def add(self, part):
        self.children.append(part)

    def tick(self):
        now = time.monotonic()
        for part in (*self.servers, *self.children):
            part.watch(now, self.say)
        for part in self.servers:
            part.restart_if_due(now, self.say)
        if all(server.restart_at is None for server in self.servers):
            for part in self.children:
                part.restart_if_due(now, self.say)

    @property
    def processes(self):
        return [part.process for part in self.children]
