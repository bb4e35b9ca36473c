"""Issue 21: a partner sends many targets in one request; each is checked and created on its own,
and the answer says, target by target, what became of it."""

from observations.models import Target
from portal.tenancy import tenant_context
from tests.conftest import api_client
from tests.observations.conftest import M51


def test_a_list_of_targets_is_created_each_on_its_own_with_a_line_for_each(tenant_factory):
    tenant, users = tenant_factory(sites=[])
    api = api_client(tenant, users["admin"])
    sent = [
        {"name": "M51", "ra_deg": M51[0], "dec_deg": M51[1], "kind": "galaxy"},
        {"name": "nowhere", "ra_deg": 400, "dec_deg": 0},
        {"name": "NGC 5195", "position": "13h29m59.6s +47d15m58s", "tags": ["companion"]},
        {"name": "M51", "ra_deg": 10, "dec_deg": 10},
        "not a target",
    ]
    answer = api.post("/api/v1/targets/", sent, format="json")
    assert answer.status_code == 201, answer.json()
    body = answer.json()
    assert (body["created"], body["refused"]) == (2, 3)
    assert [line["status"] for line in body["targets"]] == ["created", "refused", "created", "refused", "refused"]
    assert "ra_deg" in body["targets"][1]["errors"] and "name" in str(body["targets"][3]["errors"])
    with tenant_context(tenant):
        made = {target.name: target for target in Target.objects.filter(tenant=tenant)}
    assert set(made) == {"M51", "NGC 5195"} and made["NGC 5195"].tags == ["companion"]
    assert body["targets"][2]["id"] == made["NGC 5195"].pk


def test_a_list_none_of_whose_targets_can_be_made_is_a_400_that_writes_nothing(tenant_factory):
    tenant, users = tenant_factory(sites=[])
    api = api_client(tenant, users["admin"])
    refused = api.post("/api/v1/targets/", [{"name": "a", "ra_deg": 0, "dec_deg": 99}, {"name": ""}], format="json")
    assert refused.status_code == 400 and refused["Content-Type"] == "application/problem+json"
    assert set(refused.json()["errors"]["targets"]) == {"0", "1"}
    for body, said in (([], "send 1 to 1,000 targets, got 0"), ([{"name": "x"}] * 1001, "got 1,001")):
        too = api.post("/api/v1/targets/", body, format="json")
        assert too.status_code == 400 and said in too.json()["errors"]["targets"]
    with tenant_context(tenant):
        assert not Target.objects.filter(tenant=tenant).exists()
