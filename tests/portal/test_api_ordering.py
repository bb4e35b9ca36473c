"""Issue 21: every list may be sorted by the fields it offers (``ordering``, '-' for descending),
and the page cursor follows that order; any other ordering is a 400 naming what is offered."""

from observations.models import Target
from portal.tenancy import tenant_context
from tests.conftest import api_client
from tests.observations.conftest import M51


def _all_pages(api, path):
    rows, url = [], path
    while url:
        page = api.get(url).json()
        rows += page["results"]
        url = page["next"]
    return rows


def test_targets_page_through_in_the_order_asked_each_once(tenant_factory):
    tenant, users = tenant_factory(sites=[])
    with tenant_context(tenant):
        for index in range(12):
            Target.objects.create(tenant=tenant, name=f"T{index:02d}", ra_deg=(M51[0] + 37 * index) % 360,
                                  dec_deg=M51[1] - index, kind="galaxy" if index % 2 else "star")  # fmt: skip
    api = api_client(tenant, users["admin"])
    by_ra = _all_pages(api, "/api/v1/targets/?ordering=-ra_deg&limit=5")
    assert [row["ra_deg"] for row in by_ra] == sorted((row["ra_deg"] for row in by_ra), reverse=True)
    assert len(by_ra) == len({row["id"] for row in by_ra}) == 12
    by_kind = _all_pages(api, "/api/v1/targets/?ordering=kind,-dec_deg&limit=4")
    keys = [(row["kind"], -row["dec_deg"]) for row in by_kind]
    assert keys == sorted(keys)
    assert len({row["id"] for row in by_kind}) == 12


def test_an_ordering_a_list_does_not_offer_is_refused_naming_what_it_offers(tenant_factory):
    tenant, users = tenant_factory()
    api = api_client(tenant, users["admin"])
    for path, said in [
        ("/api/v1/targets/?ordering=healpix", "sort by name, ra_deg, dec_deg, kind, created_at"),
        ("/api/v1/sites/?ordering=", "not ''"),
        ("/api/v1/targets/?ra=10&dec=10&radius=1&ordering=name", "a cone search lists nearest first"),
        ("/api/v1/alerts/?after=0&ordering=magnitude", "after lists every alert since that one oldest first"),
        ("/api/v1/site-conditions/?ordering=site", "this list has one order"),
    ]:
        refused = api.get(path)
        assert refused.status_code == 400 and refused["Content-Type"] == "application/problem+json", path
        assert said in refused.json()["errors"]["ordering"], (path, refused.json())
    assert [site["code"] for site in api.get("/api/v1/sites/?ordering=-code").json()["results"]] == ["site"]
