"""The API's OpenAPI schema: served to every key holder, and the committed docs/openapi.yaml is
what the code describes, so a partner generating a client from the file gets today's API."""

import io
from pathlib import Path

import yaml
from django.core.management import call_command
from rest_framework.test import APIClient

from portal.models import Role
from tests.conftest import api_client

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
REGENERATE = "./arrayscope manage spectacular --validate --fail-on-warn --file docs/openapi.yaml"


def test_the_committed_schema_is_the_one_the_code_describes_and_has_no_warnings():
    generated = io.StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=generated)  # a warning raises
    assert generated.getvalue() == COMMITTED.read_text(), f"docs/openapi.yaml is out of date; run: {REGENERATE}"


def test_any_key_holder_reads_the_schema_as_yaml_or_json(tenant_factory):
    tenant, users = tenant_factory(members=[("volunteer", Role.VOLUNTEER)])
    client = api_client(tenant, users["volunteer"], scope="read")
    as_yaml = client.get("/api/v1/schema/")
    assert as_yaml.status_code == 200 and as_yaml["Content-Type"].startswith("application/vnd.oai.openapi")
    schema = yaml.safe_load(as_yaml.content)
    assert schema["info"]["title"] == "Arrayscope API"
    assert schema["components"]["securitySchemes"]["ApiKey"] == {**schema["components"]["securitySchemes"]["ApiKey"],
                                                                  "type": "apiKey", "in": "header",
                                                                  "name": "Authorization"}  # fmt: skip
    problem = schema["paths"]["/api/v1/sites/"]["post"]["responses"]["4XX"]["content"]["application/problem+json"]
    assert problem["schema"] == {"$ref": "#/components/schemas/Problem"}
    as_json = client.get("/api/v1/schema/?format=json")
    assert as_json["Content-Type"].startswith("application/vnd.oai.openapi+json") and as_json.json() == schema
    assert client.get("/api/v1/schema/", HTTP_ACCEPT="application/json").json() == schema


def test_the_schema_is_not_served_without_a_key(db):
    response = APIClient().get("/api/v1/schema/")
    assert response.status_code == 401 and response["Content-Type"] == "application/problem+json"
