"""Simulated telescopes for the demo: control software that works each telescope's queue
through the portal's own API, as a real one would, faster than real time.

Each tick, every telescope asks ``next``; a planned observation is started at once (the
simulation does not wait for its slot), and completed once ``1 / speed`` of its planned
length has passed, or failed for clouds now and then: the Gantt chart, the allocation bars
and the re-plans after failures move while someone watches.
"""

import json
import time
import urllib.error
import urllib.request
from datetime import datetime


class SimulatedTelescopes:
    def __init__(self, base_url, key, *, speed=60.0, failure_rate=0.1, rng):
        self.base, self.key, self.speed, self.failure_rate, self.rng = (
            base_url.rstrip("/"),
            key,
            speed,
            failure_rate,
            rng,
        )
        self.started = {}  # observation id → when this simulation started it (its own clock)

    def _call(self, method, path, body=None):
        request = urllib.request.Request(f"{self.base}/api/v1/{path}", method=method,
                                         data=None if body is None else json.dumps(body).encode(),
                                         headers={"Authorization": f"Api-Key {self.key}",
                                                  "Content-Type": "application/json"})  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as refused:  # a re-plan replaced it, or another report won: ask again
            return {"refused": refused.code, "problem": refused.read()[:500].decode(errors="replace")}

    def telescopes(self):
        return [t["id"] for t in self._call("GET", "telescopes/?limit=100")["results"] if t.get("active", True)]

    def tick(self, now=None):
        """One round over every telescope; returns what each did: "started", "completed",
        "failed", "busy" or "idle"."""
        now = time.monotonic() if now is None else now
        done = {}
        for telescope in self.telescopes():
            observation = self._call("GET", f"scheduled-observations/next/?telescope={telescope}").get("observation")
            if observation is None:
                done[telescope] = "idle"
                continue
            where = f"scheduled-observations/{observation['id']}"
            if observation["state"] == "planned":
                self._call("POST", f"{where}/start/", {"telescope": telescope})
                self.started[observation["id"]] = now
                done[telescope] = "started"
                continue
            began = self.started.setdefault(observation["id"], now)
            length = (_seconds(observation["end"]) - _seconds(observation["start"])) / self.speed
            if now - began < length:
                done[telescope] = "busy"
            elif self.rng.random() < self.failure_rate:
                self._call("POST", f"{where}/fail/", {"telescope": telescope, "reason": "clouds (simulated)"})
                done[telescope] = "failed"
            else:
                self._call("POST", f"{where}/complete/", {"telescope": telescope})
                done[telescope] = "completed"
        return done


def _seconds(iso):
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
