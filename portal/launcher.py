"""Starts the whole portal on one machine, or the test suite against the same stack.

``python -m portal.launcher run``: the database and Redis (embedded unless
``DATABASE_URL`` / ``REDIS_URL`` are set), migrations, the demo tenant, a Celery worker
per queue, Celery beat, the ASGI server and the alert streams; a part that stops while
they run is started again (``portal.supervision``); Ctrl-C stops them all in order.
``python -m portal.launcher test [pytest args]``: a fresh database and Redis under
var/test, migrated as in production, then pytest.
``python -m portal.launcher manage COMMAND …``: a management command on the portal's
data, joining the embedded servers of a running portal or starting them for the command.

Every failure to start is one sentence naming the part and the cause, not a traceback.
"""

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

from .embedded import EmbeddedError, EmbeddedPostgres, EmbeddedRedis
from .supervision import Part, Supervisor, child

BASE_DIR = Path(__file__).resolve().parent.parent
WORKER_CONCURRENCY = {"default": "2", "gpu": "1", "gpu-batch": "1"}
# On one machine every part shares the same cores. What is waited for comes first: new alerts
# and frames through the gpu queue (a drained queue keeps latency low), then pages and the API,
# then light background work, and training last (production gives each part its own machine).
NICENESS = {"gpu": 0, "web": 5, "alerts": 5, "default": 8, "beat": 8, "telescopes": 8, "gpu-batch": 12}
DEMO_PASSWORD = "arrayscope-demo"


class LaunchError(RuntimeError):
    """Stops the launcher with its message as the one line the user reads."""


def writable_var_dir(path):
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as error:
        raise LaunchError(
            f"The data folder {path} is not writable ({error.strerror}); set ARRAYSCOPE_VAR to a writable folder."
        ) from error
    return path


def secret_key(var_dir):
    """A secret kept in var/ so sessions survive restarts; production sets SECRET_KEY."""
    path = var_dir / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


def check_postgres(url, name="DATABASE_URL"):
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise LaunchError(f"Cannot connect to PostgreSQL at {name} ({_where(url)}): {reason}") from error


def check_redis(url):
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3).ping()
    except (redis.RedisError, OSError, ValueError) as error:
        raise LaunchError(f"Cannot reach Redis at REDIS_URL ({_where(url)}): {error}") from error


def check_port_free(host, port):
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise LaunchError(
                f"Port {port} on {host} is already in use ({error.strerror}); stop what uses it or set PORT to another."
            ) from error


def _where(url):
    parsed = urlparse(url)
    return f"{parsed.scheme}://{parsed.hostname or parsed.path}{':' + str(parsed.port) if parsed.port else ''}"


class Stack:
    """The database and Redis for one run, embedded or external, and the environment naming them."""

    def __init__(self, var_dir, database_name, *, fresh=False, join_running=False):
        self.var_dir = writable_var_dir(var_dir)
        self.database_name = database_name
        self.fresh = fresh
        self.join_running = join_running
        self.postgres = None
        self.redis = None
        self.env = dict(os.environ)

    def start(self):
        self.env.setdefault("ARRAYSCOPE_VAR", str(self.var_dir))
        if not self.env.get("SECRET_KEY"):
            self.env["SECRET_KEY"] = secret_key(self.var_dir)
        if self.env.get("DATABASE_URL"):
            check_postgres(self.env["DATABASE_URL"])
            if self.env.get("DATABASE_ADMIN_URL"):
                check_postgres(self.env["DATABASE_ADMIN_URL"], "DATABASE_ADMIN_URL")
        else:
            self.postgres = EmbeddedPostgres(self.var_dir).start()
            self.postgres.ensure_database(self.database_name, fresh=self.fresh)
            self.env["DATABASE_URL"] = self.postgres.url(self.database_name)
            self.env["DATABASE_ADMIN_URL"] = self.postgres.url(self.database_name, user="postgres")
        if self.env.get("REDIS_URL"):
            check_redis(self.env["REDIS_URL"])
        else:
            self.redis = EmbeddedRedis(self.var_dir).start(join_running=self.join_running)
            self.env["REDIS_URL"] = self.redis.url
        return self

    def supervised(self):
        """The embedded servers as parts to keep running, Redis first (every process needs it to
        take work); external ones are their operator's to run."""
        servers = [("redis", self.redis), ("postgresql", self.postgres)]
        return [Part(name, server.restart, lambda server=server: None if server.running() else "stopped")
                for name, server in servers if server is not None]  # fmt: skip

    def stop(self):
        if self.redis is not None:
            self.redis.stop()
        if self.postgres is not None:
            self.postgres.stop()

    def manage(self, *args):
        """Run a management command against this stack, its output passed through."""
        result = subprocess.run(manage_command(*args), env=self.env, cwd=BASE_DIR)
        if result.returncode != 0:
            raise LaunchError(f"'manage.py {' '.join(args)}' failed (exit {result.returncode}); see its output above.")


def spawn(name, command, env, log_dir, pass_fds=()):
    """Start a child logging to var/log, in its own process group (so Ctrl-C reaches only the
    launcher, and a part can be stopped with its children) but in the launcher's session:
    Linux shares the CPU out between sessions first (autogroups) and applies nice values only
    within one, so parts in sessions of their own would each get an equal share whatever
    their NICENESS."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log = open(log_dir / f"{name}.log", "ab")
    process = subprocess.Popen(
        command, env=env, cwd=BASE_DIR, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        process_group=0, pass_fds=pass_fds,
    )  # fmt: skip
    process.log_path = log_dir / f"{name}.log"
    process.name = name
    return process


def manage_command(*args):
    return [sys.executable, str(BASE_DIR / "manage.py"), *args]


def niced(part, command):
    """``command`` at ``part``'s priority (NICENESS); as it is where there is no ``nice``."""
    if not NICENESS[part] or shutil.which("nice") is None:
        return command
    return ["nice", "-n", str(NICENESS[part]), *command]


def beat_command(var_dir):
    return niced("beat", [sys.executable, "-m", "celery", "-A", "portal", "beat", "-s",
                          str(var_dir / "celerybeat-schedule"), "-l", "INFO"])  # fmt: skip


def worker_command(queue):
    return niced(queue, [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "portal",
        "worker",
        "-Q",
        queue,
        "-n",
        f"{queue}@%h",
        "-c",
        WORKER_CONCURRENCY[queue],
        "--without-gossip",
        "--without-mingle",
        "-l",
        "INFO",
    ])  # fmt: skip


WEB_POOL_SIZE = "8"


def web_env(env):
    """The ASGI server's environment: requests borrow database connections from a bounded pool
    (a kept connection a request thread would exhaust PostgreSQL)."""
    return {**env, "DATABASE_CONN_MAX_AGE": "0", "DATABASE_POOL_SIZE": env.get("DATABASE_POOL_SIZE") or WEB_POOL_SIZE}


# One Python process serves on one core at most (the GIL); a partner streaming alerts keeps
# a core busy with ingest alone, so the server is several processes (see spawn_web).
ASGI_APPLICATION = "portal.asgi:application"
WEB_PROCESSES = int(os.environ.get("WEB_PROCESSES") or min(2, os.cpu_count() or 1))


def web_listeners(host, port, names):
    """{name: the socket that web process accepts from}; None on IPv6, where one process binds
    itself (Twisted adopts inherited IPv4 sockets only). Each process has a socket of its own on
    the same port (SO_REUSEPORT), and the kernel spreads new connections over them evenly: from
    one shared socket, whichever process woke first took a whole burst of browsers' keep-alive
    connections, and one core served fifty volunteers while the other idled. The launcher keeps
    them open while it runs, so a web process started again serves the same port, and the
    connections sent to it wait in its backlog meanwhile."""
    if ":" in host:
        return None
    return {name: socket.create_server((host, port), backlog=1024, reuse_port=True) for name in names}


def spawn_web_process(name, host, port, listener, env, log_dir):
    daphne = niced("web", [sys.executable, "-m", "portal.webserver", "--proxy-headers"])
    if listener is None:
        return spawn(name, [*daphne, "-b", host, "-p", str(port), ASGI_APPLICATION], web_env(env), log_dir)
    command = [*daphne, "--fd", str(listener.fileno()), ASGI_APPLICATION]
    return spawn(name, command, web_env(env), log_dir, pass_fds=(listener.fileno(),))


def web_names(host, name="web", count=WEB_PROCESSES):
    """The ASGI server is ``count`` Daphne processes on one port (one on IPv6). Websocket groups
    live in Redis, so a feed reaches a browser whichever process holds its socket."""
    if ":" in host or count == 1:
        return [name]
    return [f"{name}-{number}" for number in range(1, count + 1)]


def spawn_web(host, port, env, log_dir, *, name="web", count=WEB_PROCESSES):
    names = web_names(host, name, count)
    listeners = web_listeners(host, port, names)
    try:
        return [spawn_web_process(each, host, port, listeners and listeners[each], env, log_dir) for each in names]
    finally:
        for listener in (listeners or {}).values():
            listener.close()  # the servers hold them now


def stop_processes(processes, timeout=15):
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for process in processes:
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_healthy(url, processes, timeout):
    """Wait for /healthz to answer 200, failing fast if a child dies on the way."""
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while time.monotonic() < deadline:
        for process in processes:
            if process.poll() is not None:
                raise LaunchError(
                    f"{process.name} exited at start (code {process.returncode}); see {process.log_path}."
                )
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except urllib.error.HTTPError as error:
            last = error.read().decode(errors="replace")[:300]
        except (urllib.error.URLError, OSError) as error:
            last = str(error)
        time.sleep(0.25)
    raise LaunchError(f"The portal was not healthy after {timeout} s: {last}")


def run():
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8000"))
    check_port_free(host, port)
    stack = Stack(os.environ.get("ARRAYSCOPE_VAR", BASE_DIR / "var"), "arrayscope")
    supervisor, listeners = None, None
    stopping = False

    def request_stop(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        stack.start()
        # The embedded run serves plain http on this machine: no https redirect or secure-only cookies.
        for name in ("SECURE_SSL_REDIRECT", "SECURE_COOKIES", "SECURE_HSTS_SECONDS"):
            stack.env.setdefault(name, "0")
        stack.manage("setup_database")
        log_dir = stack.var_dir / "log"
        # The demo data loads while the workers and the server start: none of them needs it to boot.
        demo = spawn("demo", manage_command("load_demo", "--password", DEMO_PASSWORD), stack.env, log_dir)
        # No worker runs yet: a job still waiting or running was left by an earlier start that
        # stopped (Ctrl-C during the first start's trainings); it is queued again, or failed.
        recovery = spawn("recover-jobs", manage_command("recover_jobs", "--stale-minutes", "0"), stack.env, log_dir)
        web_processes = web_names(host)
        listeners = web_listeners(host, port, web_processes)

        def command(name, argv):
            return child(name, lambda: spawn(name, argv, stack.env, log_dir))

        def web(name):
            listener = listeners and listeners[name]
            return child(name, lambda: spawn_web_process(name, host, port, listener, stack.env, log_dir))

        workers = [command(f"worker-{queue}", worker_command(queue)) for queue in WORKER_CONCURRENCY]
        supervisor = Supervisor(stack.supervised(), [*workers, *(web(name) for name in web_processes)])
        for setup, what in ((demo, "Loading the demo data"), (recovery, "Recovering interrupted jobs")):
            if setup.wait() != 0:
                raise LaunchError(f"{what} failed (exit {setup.returncode}); see {setup.log_path}.")
        # Every observatory's alert streams, the demo's replayed night among them.
        supervisor.add(command("alerts", niced("alerts", manage_command("consume_alerts"))))
        base = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
        wait_healthy(f"{base}/healthz", supervisor.processes, timeout=120)
        # Beat's sweeps put right what a part that stopped left behind: nothing to do before now.
        supervisor.add(command("beat", beat_command(stack.var_dir)))
        # The demo's telescopes work tonight's queue through the API, sixty times faster than real time.
        supervisor.add(command("telescopes", niced("telescopes", manage_command("simulate_telescopes", "--tenant",
                                                                                 "demo", "--url", base))))  # fmt: skip
        print_banner(base, log_dir)
        while not stopping:
            supervisor.tick()
            time.sleep(0.5)
        print("\nStopping Arrayscope…", flush=True)
    finally:
        if supervisor is not None:
            stop_processes(supervisor.processes)
        for listener in (listeners or {}).values():
            listener.close()
        stack.stop()
    print("Stopped. Your data is kept in", stack.var_dir)


def print_banner(base, log_dir):
    print(
        f"""
Arrayscope is running at {base}/

  Demo logins (password: {DEMO_PASSWORD})
    demo-admin        observatory admin (also a member of a second observatory)
    demo-astronomer   astronomer
    demo-volunteer    volunteer
    demo-partner      partner (issues API keys)

  Live alerts: {base}/t/demo/alerts/ (a synthetic night replays, two alerts a second)
  Classify galaxies (no sign-in needed): {base}/projects/demo/galaxy-shapes/
  Tonight's plan: {base}/t/demo/scheduling/night/ (simulated telescopes work the queues, 60× real time)
  Health: {base}/healthz    Logs: {log_dir}/
  Press Ctrl-C to stop.
""",
        flush=True,
    )


def test(pytest_args):
    var_dir = BASE_DIR / "var" / "test"
    stack = Stack(var_dir, "arrayscope_test", fresh=True)
    # Stored files and Redis's data go with the fresh database: none left over from an earlier run.
    for kept in ("media", "redis"):
        shutil.rmtree(var_dir / kept, ignore_errors=True)
    try:
        stack.start()
        # Tells the tests they run on this fresh stack, not on the data of a portal someone runs.
        stack.env["ARRAYSCOPE_TEST_STACK"] = str(var_dir)
        # Webhooks to receivers on this machine, with retries a test can wait for: three tries,
        # half a second apart and doubling.
        stack.env.update({"SECURE_SSL_REDIRECT": "0", "SECURE_COOKIES": "0", "SECURE_HSTS_SECONDS": "0",
                          "MEDIA_ROOT": str(var_dir / "media"), "ALERT_WEBHOOK_ALLOW_PRIVATE": "1",
                          "ALERT_WEBHOOK_ATTEMPTS": "3", "ALERT_WEBHOOK_RETRY_SECONDS": "0.5",
                          # Every test calls from 127.0.0.1: the per-address limits are tested
                          # on addresses of their own (tests/portal/test_throttling.py).
                          "API_RATE_ANONYMOUS": "100000/min", "API_KEY_FAILURES_PER_ADDRESS": "100000/min",
                          "LOGIN_FAILURES_PER_ADDRESS": "100000/min"})  # fmt: skip
        stack.manage("setup_database", "--verbosity", "0")
        return subprocess.run([sys.executable, "-m", "pytest", *pytest_args], env=stack.env, cwd=BASE_DIR).returncode
    finally:
        stack.stop()


def manage(args):
    """A management command against the portal's data, whether or not the portal is running."""
    stack = Stack(os.environ.get("ARRAYSCOPE_VAR", BASE_DIR / "var"), "arrayscope", join_running=True)
    try:
        stack.start()
        return subprocess.run(manage_command(*args), env=stack.env, cwd=BASE_DIR).returncode
    finally:
        stack.stop()


def main(argv):
    if not argv or argv[0] not in {"run", "test", "manage"}:
        print("usage: python -m portal.launcher run | test [pytest arguments] | manage COMMAND …", file=sys.stderr)
        return 2
    try:
        if argv[0] == "run":
            run()
            return 0
        if argv[0] == "manage":
            return manage(argv[1:])
        return test(argv[1:])
    except (LaunchError, EmbeddedError) as error:
        print(f"arrayscope: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
