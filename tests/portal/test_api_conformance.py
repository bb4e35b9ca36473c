"""Issue 21, point 6: the API answers as its schema says. Every read the schema documents is
called as a partner's generated client would call it, on an observatory with a row of each
kind, and each answer — status, content type and body — is checked against the live schema
by schemathesis (the fuzz test, tests/portal/test_api_fuzz.py, sends the requests the schema
allows and forbids; this one follows real ids, so every body it checks is a full one)."""

import requests
import schemathesis

from alerts.synthetic import make_alert
from mlmodels.models import MLModel
from mlmodels.registry import create_model
from observations.synthetic import make_frame
from portal.models import ApiKey
from portal.tenancy import tenant_context
from tests.alerts.test_ingest import as_json
from tests.api_fuzz import CONFORMANCE
from tests.observations.conftest import M51, equip, to_bytes

# Reads that need a query to answer 200, as the schema documents them.
QUERIES = {
    "/api/v1/vo/targets/cone/": {"RA": M51[0], "DEC": M51[1], "SR": 0.1},
    "/api/v1/vo/frames/cone/": {"RA": M51[0], "DEC": M51[1], "SR": 0.1},
}
# Every kind of row the observatory below holds: each one's list and detail must answer in full.
SEEDED = ["sites", "telescopes", "instruments", "filters", "targets", "frames", "alerts", "alert-filters", "models",
          "fused-images"]  # fmt: skip


def _seed(url, tenant, admin, session):
    equip(tenant)  # a site, telescope, instrument and filter; M51 and another target
    for path, body in (("alerts/", as_json(make_alert(1, ra_deg=M51[0] + 1e-4, dec_deg=M51[1]).packet)),
                       ("alert-filters/", {"name": "everything", "conditions": {}})):  # fmt: skip
        created = session.post(f"{url}/api/v1/{path}", json=body)
        assert created.status_code == 201, created.text
    frame = to_bytes([make_frame(ra_deg=M51[0], dec_deg=M51[1], seed=3, obs_time="2026-03-14T22:00:00")])
    assert session.post(f"{url}/api/v1/frames/upload/", files={"files": ("m51.fits", frame)}).status_code == 201
    m51 = next(row["id"] for row in session.get(f"{url}/api/v1/targets/").json()["results"] if row["name"] == "M51")
    fusion = session.post(f"{url}/api/v1/fused-images/", json={"target": m51, "band": "r", "size_arcsec": 30})
    assert fusion.status_code == 202, fusion.text  # queued: no worker here, so its file is not made (a 404)
    with tenant_context(tenant):
        create_model(tenant, admin, name="morphology", task=MLModel.Task.MORPHOLOGY, architecture="convnext_atto",
                     class_names=["elliptical", "spiral", "merger"])  # fmt: skip


def test_every_read_answers_with_the_status_type_and_body_its_schema_documents(web_only_server,
                                                                                committed_tenant_factory):  # fmt: skip
    url, _ = web_only_server
    tenant, users = committed_tenant_factory(sites=[])
    with tenant_context(tenant):
        _, key = ApiKey.issue(tenant=tenant, created_by=users["admin"], name="client", scope="write")
    headers = {"Authorization": f"Api-Key {key}"}
    session = requests.Session()
    session.headers.update(headers)
    _seed(url, tenant, users["admin"], session)

    schema = schemathesis.openapi.from_url(f"{url}/api/v1/schema/?format=json", headers=headers, timeout=60)
    reads = [result.ok() for result in schema.get_all_operations() if result.ok().method.upper() == "GET"]
    ids, answered, failures = {}, {}, []
    # Lists first (they give the ids), then the reads of one row.
    for operation in sorted(reads, key=lambda operation: ("{" in operation.path, operation.path)):
        resource = operation.path.removeprefix("/api/v1/").split("/")[0]
        names = [parameter.name for parameter in operation.path_parameters]
        if names and resource not in ids:
            continue  # a kind of row this observatory has none of
        case = operation.Case(path_parameters={name: ids.get(resource) for name in names},
                              query=QUERIES.get(operation.path, {}))  # fmt: skip
        response = case.call(base_url=url, headers=headers, timeout=60)
        answered[operation.path] = response.status_code
        try:
            case.validate_response(response, checks=CONFORMANCE)
        except Exception as failure:  # schemathesis's FailureGroup: every check that failed
            failures.append(f"{operation.label}: {response.status_code} {response.text[:300]!r}\n{failure}")
        if not names and response.status_code == 200 and "application/json" in response.headers["content-type"][0]:
            rows = response.json().get("results") if isinstance(response.json(), dict) else None
            if rows:
                ids[resource] = rows[0]["id"]

    assert not failures, "\n\n".join(failures)
    assert set(SEEDED) <= set(ids), f"lists that came back empty: {set(SEEDED) - set(ids)}"
    full = [f"/api/v1/{resource}/{{id}}/" for resource in SEEDED] + [
        "/api/v1/frames/{id}/file/", "/api/v1/targets/{target_id}/predictions/", "/api/v1/targets/{id}/light-curve/",
        "/api/v1/vo/targets/cone/", "/api/v1/vo/frames/cone/", "/api/v1/whoami/"]  # fmt: skip
    assert {path: answered.get(path) for path in full} == dict.fromkeys(full, 200)
