"""Issue 21, point 2: the API documentation's examples are requests that work. Each example
of creating a target, a list of targets or an alert filter, read from the live schema, is sent
as a partner would paste it from the docs, and is created."""

import requests

from portal.models import ApiKey
from portal.tenancy import tenant_context

OFFLINE = {"By name alone (Sesame)"}  # needs CDS Sesame, which the tests cannot reach


def test_the_docs_examples_of_creating_targets_and_filters_are_created(web_only_server, committed_tenant_factory):
    url, _ = web_only_server
    tenant, users = committed_tenant_factory(sites=[])
    with tenant_context(tenant):
        _, key = ApiKey.issue(tenant=tenant, created_by=users["admin"], name="docs", scope="write")
    session = requests.Session()
    session.headers["Authorization"] = f"Api-Key {key}"
    schema = session.get(f"{url}/api/v1/schema/?format=json").json()
    sent = 0
    for path in ("/api/v1/targets/", "/api/v1/alert-filters/"):
        examples = schema["paths"][path]["post"]["requestBody"]["content"]["application/json"]["examples"]
        assert len(examples) >= 2, path
        for example in examples.values():
            if example["summary"] in OFFLINE:
                continue
            created = session.post(f"{url}{path}", json=example["value"])
            assert created.status_code == 201, (example["summary"], created.text)
            sent += 1
    assert sent >= 5
