"""Issue 21: a client names the fields it reads (``fields=``) on the heavy resources — targets,
frames, alerts, models — and gets only those; a field a resource does not have is a 400."""

from tests.conftest import api_client
from tests.observations.conftest import M51, equip


def test_a_list_and_a_detail_answer_only_the_fields_named(tenant_factory):
    tenant, users = tenant_factory(sites=[])
    equip(tenant)
    api = api_client(tenant, users["admin"])
    rows = api.get("/api/v1/targets/?fields=id,name,ra_deg").json()["results"]
    m51 = next(row for row in rows if row["name"] == "M51")
    assert m51 == {"id": m51["id"], "name": "M51", "ra_deg": M51[0]} and all(len(row) == 3 for row in rows)
    detail = api.get(f"/api/v1/targets/{m51['id']}/?fields=name,dec_deg").json()
    assert detail == {"name": "M51", "dec_deg": M51[1]}
    full = api.get(f"/api/v1/targets/{m51['id']}/").json()
    assert {"ra_hms", "tags", "visibility"} <= set(full)
    created = api.post("/api/v1/targets/?fields=id", {"name": "NGC 5195", "ra_deg": 202.498, "dec_deg": 47.266},
                       format="json")  # fmt: skip
    assert created.status_code == 201 and "ra_hms" in created.json(), "a write answers in full"


def test_a_field_the_resource_does_not_have_is_refused_naming_those_it_has(tenant_factory):
    tenant, users = tenant_factory(sites=[])
    api = api_client(tenant, users["admin"])
    for path in ("/api/v1/targets/?fields=id,secret", "/api/v1/frames/?fields=", "/api/v1/alerts/?fields=stamps",
                 "/api/v1/targets/?fields=position"):  # position is written, never read  # fmt: skip
        refused = api.get(path)
        assert refused.status_code == 400 and refused["Content-Type"] == "application/problem+json", path
        assert refused.json()["errors"]["fields"].startswith("name some of id, "), refused.json()
