"""No 5xx from input: a bad query parameter, body or route is a 4xx naming the problem —
problem+json on the API, a page on the rest — and Django's own refusals are problem+json on
the API too."""

import pytest
from django.test import RequestFactory, override_settings

from alerts.models import DeadLetter
from portal.api_errors import server_error
from portal.tenancy import tenant_context
from tests.conftest import api_client

PROBLEM = "application/problem+json"


@pytest.fixture
def partner(tenant_factory):
    tenant, users = tenant_factory()
    client = api_client(tenant, users["admin"])
    client.raise_request_exception = False
    return client


def assert_problem(response, status, *named):
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == PROBLEM
    problem = response.json()
    assert problem["status"] == status and "Traceback" not in problem["detail"]
    for text in named:
        assert text in problem["detail"], problem["detail"]
    return problem


@pytest.mark.parametrize("url, field", [
    ("/api/v1/targets/?q=M%0051", "q"),
    ("/api/v1/alerts/?object=ZTF%00", "object"),
    ("/api/v1/alerts/?band=r%00", "band"),
    ("/api/v1/alerts/?class=sn%00ia", "class"),
    ("/api/v1/follow-ups/?status=pending%00", "status"),
    ("/api/v1/sites/?limit=99999999999999999999", "limit"),
    ("/api/v1/sites/?limit=100000", "limit: an integer from 1 to 1,000"),
    ("/api/v1/sites/?cursor=not%20a%20cursor", "cursor: not a cursor this list gave"),
    ("/api/v1/alerts/?cursor=cD1hYmM=", "cursor"),  # p=abc: a position that is not an alert id
    ("/api/v1/frames/?cursor=cD15ZXN0ZXJkYXk=", "cursor"),
    ("/api/v1/alerts/?brighter_than=nan", "brighter_than: a finite number"),
    ("/api/v1/alerts/?brighter_than=-inf", "brighter_than"),
    ("/api/v1/alerts/?after=99999999999999999999", "after"),
])  # fmt: skip
def test_a_bad_query_parameter_on_the_api_is_a_problem_naming_it(partner, url, field):
    assert_problem(partner.get(url), 400, field)


@pytest.mark.parametrize("path, field", [("targets/?q=M%0051", "q"), ("frames/?target=%00", "target"),
                                         ("alerts/?filter=1%00", "filter")])  # fmt: skip
def test_a_nul_byte_in_a_page_query_is_a_400_page_naming_the_parameter(tenant_factory, client, path, field):
    tenant, users = tenant_factory()
    client.force_login(users["admin"])
    response = client.get(f"/t/{tenant.slug}/{path}")
    assert response.status_code == 400 and response["Content-Type"].startswith("text/html")
    assert f"{field}: contains a NUL byte" in response.content.decode()


def test_json_nested_past_the_limit_is_a_problem_not_a_recursion_error(partner):
    for depth in (33, 100_000):
        body = "[" * depth + "]" * depth
        assert_problem(partner.post("/api/v1/alert-filters/", body, content_type="application/json"), 400,
                       "deeper than 32 levels")  # fmt: skip
        assert_problem(partner.post("/api/v1/alerts/", body, content_type="application/json"), 400, "deeper than 32")


def test_django_refusals_and_unknown_routes_on_the_api_are_problems(partner):
    assert_problem(partner.get("/api/v1/no-such-thing/"), 404, "/api/v1/no-such-thing/ is not an API endpoint")
    assert_problem(partner.get("/api/v1/sites/", HTTP_HOST="evil.example"), 400, "Host")
    with override_settings(DATA_UPLOAD_MAX_NUMBER_FIELDS=10):
        fields = "&".join(f"f{n}=1" for n in range(20))
        response = partner.post("/api/v1/sites/", fields, content_type="application/x-www-form-urlencoded")
        assert_problem(response, 413, "more than 10 fields")
    body = b'{"name": "' + b"x" * 3 * 2**20 + b'"}'
    assert_problem(partner.post("/api/v1/sites/", body, content_type="application/json"), 413, "2,621,440 bytes")
    problem = server_error(RequestFactory().get("/api/v1/sites/"))
    assert (problem.status_code, problem["Content-Type"]) == (500, PROBLEM) and b"Traceback" not in problem.content


def test_pages_keep_their_html_error_pages(db, client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")
    assert server_error(RequestFactory().get("/t/x/")).status_code == 500


@pytest.mark.parametrize("url, body, named", [
    ("/api/v1/targets/", '{"name": "M\\u000051", "ra_deg": 10, "dec_deg": 20}', "name"),
    ("/api/v1/targets/", '{"name": "M51", "ra_deg": 10, "dec_deg": 20, "tags": ["a\\u0000"]}', "tags[0]"),
    ("/api/v1/alert-filters/", '{"name": "x", "conditions": {"bands": ["r\\u0000"]}}', "conditions.bands[0]"),
    ("/api/v1/sites/", '{"code\\u0000": "x"}', "a key"),
])  # fmt: skip
def test_a_nul_in_a_json_body_is_refused_naming_where_not_a_database_error(partner, url, body, named):
    """PostgreSQL stores no NUL in text or JSONB: the parser refuses one wherever it is, before
    any field (a JSONField included) can hand it to the database."""
    assert_problem(partner.post(url, body, content_type="application/json"), 400, "NUL", named)


def test_a_refused_packet_whose_field_names_hold_a_nul_is_named_and_kept_as_a_dead_letter(tenant_factory):
    """Found by the fuzz run (test_api_fuzz): the refusal quoted the packet's field names, NUL
    and all, and writing it as a dead letter was a database error, a 500."""
    tenant, users = tenant_factory()
    response = api_client(tenant, users["admin"]).post("/api/v1/alerts/", '[{"a\\u0000b": 1}]',
                                                       content_type="application/json")  # fmt: skip
    assert "a\x00b" in assert_problem(response, 400, "packet 0: not an alert packet")["detail"]
    with tenant_context(tenant):
        assert DeadLetter.objects.get().reason.endswith("this one has a\\x00b")
