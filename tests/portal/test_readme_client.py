"""The README's Python client example, run as a partner would run it: against a live server,
with a fresh key, in a process of its own."""

import os
import re
import subprocess
import sys
from pathlib import Path

from observations.synthetic import make_frame
from portal.models import ApiKey
from portal.tenancy import tenant_context
from tests.observations.conftest import M51, equip, to_bytes

README = Path(__file__).resolve().parents[2] / "README.md"


def client_example():
    text = README.read_text()
    marker = text.index("<!-- the client example:")
    block = re.search(r"```python\n(.*?)```", text[marker:], re.S).group(1)
    return "\n".join(line.removeprefix("  ") for line in block.splitlines())


def test_the_readme_client_example_runs_against_a_live_server(web_only_server, committed_tenant_factory):
    import httpx

    url, _ = web_only_server
    tenant, users = committed_tenant_factory(sites=[])
    equip(tenant)
    with tenant_context(tenant):
        _, key = ApiKey.issue(tenant=tenant, created_by=users["admin"], name="partner script", scope="write")
    frame = to_bytes([make_frame(ra_deg=M51[0], dec_deg=M51[1], seed=5, obs_time="2026-03-14T22:00:00")])
    uploaded = httpx.post(f"{url}/api/v1/frames/upload/", files={"files": ("night.fits", frame)},
                          headers={"Authorization": f"Api-Key {key}"}, timeout=60)  # fmt: skip
    assert uploaded.status_code == 201, uploaded.text

    run = subprocess.run([sys.executable, "-c", client_example()], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "ARRAYSCOPE_URL": url, "ARRAYSCOPE_KEY": key})  # fmt: skip
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == f"'partner script' acts with the role admin in {tenant.name}"
    assert lines[1].startswith("M51 ") and lines[1].endswith(" 0.0 arcsec"), lines
    assert "far away" not in run.stdout, "40° away is outside the cone"
    assert "1 frames" in lines and f"night.fits: {len(frame)} bytes" in lines
    assert lines[-1] == "400 ra_deg: right ascension 400.0° is outside 0° … 360°.", lines[-1]
