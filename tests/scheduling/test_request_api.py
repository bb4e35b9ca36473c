"""Issue 21 (from issue 20): a partner's or astronomer's script submits request groups through
the API as the request form does — every request checked against the proposal's time, the
instruments and the sky before anything is stored — and lists them with their state."""

from portal.tenancy import tenant_context
from scheduling.models import Request, RequestGroup
from scheduling.proposals import cadence_windows
from tests.conftest import api_client


def _group(proposal, observed, window, **request_changes):
    exposures = {"instrument": "sinistro", "filter_name": "r", "exposure_s": 300, "exposure_count": 3}
    request = {"target": observed.pk, "telescope_class": "1m0", "constraints": {"min_lunar_distance_deg": 0},
               "configurations": [exposures], "windows": [{"start": window[0].isoformat(),
                                                          "end": window[1].isoformat()}]}  # fmt: skip
    return {"proposal": proposal.pk, "name": "tonight", "priority": 20, "requests": [{**request, **request_changes}]}


def test_the_pi_submits_a_group_and_lists_it_with_its_requests(approved):
    tenant, users, proposal, target, window = approved
    api = api_client(tenant, users["astronomer"])
    body = _group(proposal, target, window, cadence_hours=4, jitter_hours=1)
    made = api.post("/api/v1/request-groups/", body, format="json")
    assert made.status_code == 201, made.json()
    group = made.json()
    assert group["name"] == "tonight" and group["submitter"] == users["astronomer"].username
    visits = cadence_windows(*window, 4, 1)
    assert len(group["requests"]) == len(visits) > 1, "a cadence makes a request of each visit"
    first = group["requests"][0]
    assert (first["target"], first["state"], first["configurations"][0]["exposure_count"]) == ("Overhead", "pending", 3)
    listed = api.get("/api/v1/request-groups/?ordering=-priority").json()["results"]
    assert [row["id"] for row in listed] == [group["id"]]
    with tenant_context(tenant):
        assert Request.objects.filter(group_id=group["id"]).count() == len(visits)


def test_a_request_that_cannot_be_observed_is_refused_naming_the_field_and_nothing_is_stored(approved):
    tenant, users, proposal, target, window = approved
    api = api_client(tenant, users["astronomer"])
    for changes, field, said in [
        ({"telescope_class": "2m0"}, "requests[1].telescope_class", "no time granted on '2m0'"),
        ({"configurations": [{"instrument": "sinistro", "filter_name": "z", "exposure_s": 60}]},
         "requests[1].configurations[1].filter_name", "sinistro has no filter 'z'"),
        ({"target": 999999}, "requests[1].target", "no target 999999"),
        ({"windows": [{"start": window[1].isoformat(), "end": window[0].isoformat()}]}, "requests[1].windows",
         "ends before it starts"),
    ]:  # fmt: skip
        refused = api.post("/api/v1/request-groups/", _group(proposal, target, window, **changes), format="json")
        assert refused.status_code == 400 and refused["Content-Type"] == "application/problem+json", refused.json()
        assert said in refused.json()["errors"][field], refused.json()
    with tenant_context(tenant):
        assert not RequestGroup.objects.exists()


def test_only_the_proposal_s_people_submit_and_another_observatory_sees_nothing(approved, tenant_factory):
    tenant, users, proposal, target, window = approved
    assert api_client(tenant, users["admin"]).post("/api/v1/request-groups/", _group(proposal, target, window),
                                                   format="json").status_code == 201  # fmt: skip
    stranger, strangers = tenant_factory()
    other = api_client(stranger, strangers["admin"])
    assert other.get("/api/v1/request-groups/").json()["results"] == []
    refused = other.post("/api/v1/request-groups/", _group(proposal, target, window), format="json")
    assert refused.status_code == 400 and "no proposal" in refused.json()["errors"]["proposal"]
