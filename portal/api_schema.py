"""What drf-spectacular cannot learn from the views about the API's OpenAPI schema: how a key
is presented (portal.api_auth) and the one shape of every failure (portal.api_errors), so a
partner's generated client knows both without reading the README."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_mock_request

from .api_errors import PROBLEM_CONTENT_TYPE

PROBLEM_SCHEMA = {
    "type": "object",
    "description": "An RFC 9457 problem: what went wrong, in one line a person can act on.",
    "properties": {
        "type": {"type": "string", "example": "about:blank"},
        "status": {"type": "integer", "example": 400},
        "title": {"type": "string", "example": "Invalid input"},
        "detail": {"type": "string", "example": "latitude_deg: Ensure this value is less than or equal to 90."},
        "errors": {
            "type": "object",
            "additionalProperties": True,
            "description": "invalid input only: the messages by field, as the fields nest",
        },
    },
    "required": ["type", "status", "title", "detail"],
}


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "portal.api_auth.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Api-Key ask_<prefix>_<secret>` (or `Bearer ask_…`): a key a tenant admin issues on "
            "the portal's API keys page. It decides the tenant, and its owner's current role what it may do.",
        }


def problem_responses(result, generator, request, public):
    """Postprocessing hook: the Problem component, and every operation's 4XX and 5XX answers as one."""
    result.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    problem = {"content": {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            responses.setdefault("4XX", {"description": "the request was refused; the problem says why", **problem})
            responses.setdefault("5XX", {"description": "the portal failed; the error is logged", **problem})
    return result


def mock_request(method, path, view, original_request, **kwargs):
    """drf-spectacular's mock request, given the tenant the views' querysets filter on: the one
    of the key that asked for the schema, or none when it is written out by ``manage.py
    spectacular``. Querysets are only built, never run, so the ids' types come from the models."""
    request = build_mock_request(method, path, view, original_request, **kwargs)
    request.tenant = getattr(original_request, "tenant", None)
    return request
