"""Paging through API lists by cursor: every row once, in the list's own order, whatever is
added meanwhile, and each page as cheap as its rows."""

from datetime import timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from observations.models import Frame, Target
from portal.models import Role
from portal.tenancy import tenant_context
from tests.conftest import api_client


def walk(client, url):
    """Every row of a list, following ``next``; (rows, pages)."""
    rows, pages = [], 0
    while url:
        page = client.get(url).json()
        rows += page["results"]
        pages, url = pages + 1, page["next"]
    return rows, pages


def test_targets_page_by_name_each_once_though_one_is_added_meanwhile(tenant_factory):
    tenant, users = tenant_factory(members=[("admin", Role.ADMIN)])
    with tenant_context(tenant):
        for n in range(0, 50, 2):
            Target.objects.create(tenant=tenant, name=f"T{n:03d}", ra_deg=n, dec_deg=0)
    client = api_client(tenant, users["admin"])
    first = client.get("/api/v1/targets/?limit=10").json()
    assert "count" not in first and first["previous"] is None
    assert [row["name"] for row in first["results"]] == [f"T{n:03d}" for n in range(0, 20, 2)]
    with tenant_context(tenant):
        Target.objects.create(tenant=tenant, name="T001", ra_deg=1, dec_deg=0)  # before the cursor: not seen
        Target.objects.create(tenant=tenant, name="T031", ra_deg=31, dec_deg=0)  # after it: seen once
    rest, pages = walk(client, first["next"])
    names = [row["name"] for row in first["results"] + rest]
    assert names == sorted(set(names)) and "T031" in names and "T001" not in names
    assert len(names) == 26 and pages == 2
    # Back from the second page: the ten rows before it as they are now, T001 among them.
    back = client.get(client.get(first["next"]).json()["previous"]).json()
    assert [row["name"] for row in back["results"]] == ["T001"] + [f"T{n:03d}" for n in range(2, 20, 2)]


def test_frames_newest_first_page_without_counting_the_table(tenant_factory):
    tenant, users = tenant_factory()
    start = timezone.now() - timedelta(days=30)
    with tenant_context(tenant):
        Frame.objects.bulk_create(
            Frame(tenant=tenant, file=f"f{n}.fits", original_name=f"f{n}.fits", sha256=f"{n:064d}", size_bytes=1,
                  obs_time=start + timedelta(hours=n // 2), mjd_obs=60000 + n, exptime_s=1, width_px=1, height_px=1)
            for n in range(30)  # two frames at each time: the cursor holds ties in order of id
        )  # fmt: skip
    client = api_client(tenant, users["admin"])
    rows, pages = walk(client, "/api/v1/frames/?limit=7")
    assert pages == 5 and len({row["id"] for row in rows}) == 30
    assert [row["obs_time"] for row in rows] == sorted((row["obs_time"] for row in rows), reverse=True)
    with CaptureQueriesContext(connection) as queries:
        client.get("/api/v1/frames/?limit=7")
    assert not any("COUNT(" in query["sql"].upper() for query in queries.captured_queries)


def test_a_cone_search_pages_nearest_first(tenant_factory):
    tenant, users = tenant_factory()
    with tenant_context(tenant):
        for n in range(12):
            Target.objects.create(tenant=tenant, name=f"near {n:02d}", ra_deg=150 + n / 3600, dec_deg=2)
    rows, pages = walk(api_client(tenant, users["admin"]), "/api/v1/targets/?ra=150&dec=2&radius=1&limit=5")
    assert pages == 3 and [row["name"] for row in rows] == [f"near {n:02d}" for n in range(12)]
