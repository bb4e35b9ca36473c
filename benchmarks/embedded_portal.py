"""What the benchmarks share: a throw-away embedded portal to measure in, and the machine's description."""

import os
import platform
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def machine():
    return {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}


@contextmanager
def embedded_portal(prefix):
    """A fresh embedded PostgreSQL and Redis in a temporary folder, migrated as in production,
    with Django set up on them; yields the folder and removes everything afterwards."""
    from portal.launcher import Stack

    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        for name in ("DATABASE_URL", "DATABASE_ADMIN_URL", "REDIS_URL"):
            os.environ.pop(name, None)
        stack = Stack(Path(tmp) / "var", "arrayscope_bench").start()
        try:
            stack.manage("setup_database", "--verbosity", "0")
            os.environ.update(stack.env)
            os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings"
            import django

            django.setup()
            yield Path(tmp)
        finally:
            from django.db import connections

            connections.close_all()
            stack.stop()
