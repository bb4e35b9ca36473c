"""Production configuration: compose.yaml gives every service what the settings read, and
those settings pass Django's deployment checks. No container engine runs here, so the
file is checked as data and its web environment is fed to the real settings."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
PORTAL_SERVICES = ["migrate", "web", "worker-default", "worker-gpu", "worker-gpu-batch", "alerts", "beat"]
SAMPLE = {
    "SECRET_KEY": "k" * 64 + "-Zq9!",
    "PORTAL_HOST": "portal.example.org",
    "DB_PASSWORD": "pw1",
    "APP_DB_PASSWORD": "pw2",
    "HF_TOKEN": "",
}


def interpolate(value):
    """Compose's ${NAME}, ${NAME:?message} and ${NAME:-default}, with the sample values."""
    return re.sub(r"\$\{(\w+)(?::[?-][^}]*)?\}", lambda match: SAMPLE[match.group(1)], str(value))


@pytest.fixture(scope="module")
def services():
    return yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]


def environment(service):
    return {name: interpolate(value) for name, value in service.get("environment", {}).items()}


@pytest.mark.parametrize("name", PORTAL_SERVICES)
def test_every_portal_service_gets_every_required_variable_and_no_unknown_one(services, name):
    env = environment(services[name])
    required = {var for var, is_required in settings.READ_ENV.items() if is_required}
    assert required <= env.keys(), f"{name} lacks {required - env.keys()}"
    assert env.keys() <= settings.READ_ENV.keys(), (
        f"{name} sets variables nothing reads: {env.keys() - settings.READ_ENV.keys()}"
    )
    assert env["DEBUG"] == "0"


def test_migrate_runs_setup_database_as_the_owner_and_the_app_uses_another_role(services):
    migrate = environment(services["migrate"])
    assert services["migrate"]["command"][-1] == "setup_database"
    assert migrate["DATABASE_ADMIN_URL"].startswith("postgres://postgres:")
    assert migrate["DATABASE_URL"].startswith("postgres://arrayscope_app:")
    for name in PORTAL_SERVICES[1:]:
        assert "DATABASE_ADMIN_URL" not in environment(services[name]), f"{name} must not hold the owner's password"
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_parts_are_the_production_images_and_the_gpu_worker_reserves_a_gpu(services):
    assert services["db"]["image"] == "pgvector/pgvector:pg18"
    assert services["redis"]["image"].startswith("redis:7")
    devices = services["worker-gpu"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]
    assert services["worker-gpu-batch"]["deploy"] == services["worker-gpu"]["deploy"]
    commands = {name: services[name]["command"] for name in ("worker-default", "worker-gpu", "worker-gpu-batch")}
    queues = {name: command[command.index("-Q") + 1] for name, command in commands.items()}
    assert queues == {"worker-default": "default", "worker-gpu": "gpu", "worker-gpu-batch": "gpu-batch"}


def test_web_settings_from_compose_pass_the_deployment_checks(services):
    env = {**os.environ, **environment(services["web"])}
    for name in ("SECURE_SSL_REDIRECT", "SECURE_COOKIES", "SECURE_HSTS_SECONDS", "DJANGO_ALLOW_ASYNC_UNSAFE"):
        env.pop(name, None)  # production leaves them unset
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
