"""Issue 17, bad input: a fixed schemathesis run over every operation of the API's schema,
against the real portal as a tenant admin's read-write key, finds no 5xx, no traceback or
error in the server's log, no refusal in any shape but problem+json, no answer whose status,
content type or body the schema does not document (issue 21), and no refused request that
left a row behind (tests/api_fuzz.py says how)."""

from portal.models import ApiKey
from portal.tenancy import tenant_context
from tests.api_fuzz import fuzz_api, log_offsets, log_problems, tenant_rows

EXAMPLES = 3  # per operation and generation mode: about 300 requests


def test_fuzzing_the_api_finds_no_server_error_and_no_refusal_that_leaves_rows(
    web_only_server, committed_tenant_factory
):
    url, servers = web_only_server
    tenant, users = committed_tenant_factory()
    with tenant_context(tenant):
        _, key = ApiKey.issue(tenant=tenant, created_by=users["admin"], name="fuzz", scope="write")
    logs = log_offsets([server.log_path for server in servers])
    report = fuzz_api(url, key, max_examples=EXAMPLES, count_rows=tenant_rows(tenant))
    assert report.calls > 200 and any(400 <= status < 500 for status in report.statuses), report.statuses
    assert not report.server_errors, "\n".join(report.server_errors)
    assert not report.not_problems, "\n".join(report.not_problems)
    assert not report.nonconforming, "\n".join(report.nonconforming)
    assert not report.rows_left, "\n".join(report.rows_left)
    assert not log_problems(logs), "\n".join(log_problems(logs))
