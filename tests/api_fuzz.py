"""A fixed fuzz run over the API: schemathesis reads the portal's own OpenAPI schema
(/api/v1/schema/) and sends, for every operation, a derandomized set of requests, both within
the schema and outside it, to a running portal as one API key. Shared by the fuzz test
(tests/portal/test_api_fuzz.py) and benchmarks/abuse.py, so both count the same run.

What it reports: every 5xx (the portal failed instead of refusing), every 4xx not said as
problem+json, every answer the schema does not document (its status, content type or body),
and, where the caller can count the tenant's rows, every refused request after which the
tenant has more or fewer rows than before (a refusal must leave nothing behind)."""

import re
import urllib.error
import urllib.request
from dataclasses import dataclass, field

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.waiting import eventually

PROBLEM = "application/problem+json"
# Deleting last: a fuzzed DELETE may hit a row the other operations would have used.
ORDER = {"GET": 0, "POST": 1, "PUT": 2, "PATCH": 3, "DELETE": 4}
# The answer is one the schema documents: its status, its content type, its body's shape.
CONFORMANCE = [status_code_conformance, content_type_conformance, response_schema_conformance]
LOG_PROBLEM = re.compile(r"Traceback|\b(ERROR|CRITICAL)\b")


@dataclass
class FuzzReport:
    calls: int = 0
    statuses: dict = field(default_factory=dict)  # status code -> count
    server_errors: list = field(default_factory=list)  # "operation: status, curl"
    not_problems: list = field(default_factory=list)  # 4xx answered in another shape
    nonconforming: list = field(default_factory=list)  # answers the schema does not describe
    rows_left: list = field(default_factory=list)  # refused requests that changed the tenant's rows

    def record(self, status):
        self.calls += 1
        self.statuses[status] = self.statuses.get(status, 0) + 1


def fuzz_api(base_url, api_key, *, max_examples=8, count_rows=None):
    """Fuzz every operation of the API at ``base_url`` with ``max_examples`` requests in each
    generation mode (valid per the schema, then invalid); ``count_rows()``, when given, is
    called around every request to find refusals that left rows."""
    headers = {"Authorization": f"Api-Key {api_key}"}
    schema = schemathesis.openapi.from_url(f"{base_url}/api/v1/schema/?format=json", headers=headers, timeout=60)
    operations = sorted((result.ok() for result in schema.get_all_operations()),
                        key=lambda operation: (ORDER.get(operation.method.upper(), 9), operation.path))  # fmt: skip
    report = FuzzReport()
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz_operation(operation, mode, base_url, headers, max_examples, count_rows, report)
    return report


def _fuzz_operation(operation, mode, base_url, headers, max_examples, count_rows, report):
    # A refusal comes as the operation documents its 4XX: a problem, or a VOTable for a VO service.
    refusal_types = tuple(operation.definition.raw["responses"].get("4XX", {}).get("content", {PROBLEM: None}))

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=max_examples, deadline=None, derandomize=True, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))  # fmt: skip
    def send(case):
        before = count_rows() if count_rows else None
        response = case.call(base_url=base_url, headers=headers, timeout=60)
        status = response.status_code
        report.record(status)
        said = f"{operation.label} [{mode.value}]: {status} {response.text[:200]!r}\n  {case.as_curl_command()}"
        try:
            case.validate_response(response, checks=[not_a_server_error])
        except FailureGroup:  # kept, not raised: one run reports every 5xx
            report.server_errors.append(said)
        try:
            if "fields" not in (case.query or {}):  # a sparse answer holds only the fields named
                case.validate_response(response, checks=CONFORMANCE)
        except FailureGroup as failures:
            report.nonconforming.append(
                f"{said}\n  " + "\n  ".join(str(f.title) + ": " + str(f.message)[:300] for f in failures.exceptions)
            )
        content_type = response.headers.get("content-type", [""])[0]  # schemathesis keeps every value
        if 400 <= status < 500 and not content_type.startswith(refusal_types):
            report.not_problems.append(said)
        if count_rows and status >= 400 and count_rows() != before:
            report.rows_left.append(said)

    send()


def log_offsets(paths):
    """Where each log ends now: ``log_problems`` reads only what is written after."""
    return {path: path.stat().st_size if path.exists() else 0 for path in paths}


def log_problems(offsets):
    """The lines logged since ``offsets`` that tell of a traceback or an error."""
    lines = []
    for path, offset in offsets.items():
        with open(path, "rb") as log:
            log.seek(offset)
            lines += [line for line in log.read().decode(errors="replace").splitlines() if LOG_PROBLEM.search(line)]
    return lines


def wait_answering(url, timeout=120):
    """Wait until the server at ``url`` answers HTTP at all: a call without a key, refused (401)
    as any would be (/healthz says 503 without workers, an error in the log)."""

    def answers():
        try:
            urllib.request.urlopen(f"{url}/api/v1/whoami/", timeout=5).close()
        except urllib.error.HTTPError:
            pass  # an answer all the same
        return True

    eventually(answers, timeout, f"the server at {url} to answer", interval=0.25, ignoring=(OSError,))


# A refused alert packet is kept as a dead letter, as the README says: the record of a refusal.
REFUSALS_KEPT = {"alerts_deadletter"}


def tenant_rows(tenant):
    """A function counting ``tenant``'s rows in every tenant table but REFUSALS_KEPT, in one query."""
    from django.apps import apps
    from django.db import connection

    from portal.models import TenantOwned
    from portal.tenancy import tenant_context

    tables = sorted(model._meta.db_table for model in apps.get_models()
                    if issubclass(model, TenantOwned) and model._meta.managed and not model._meta.proxy
                    and model._meta.db_table not in REFUSALS_KEPT)  # fmt: skip
    sql = "SELECT " + ", ".join(f'(SELECT count(*) FROM "{table}" WHERE tenant_id = %(t)s)' for table in tables)

    def count():
        with tenant_context(tenant), connection.cursor() as cursor:
            cursor.execute(sql, {"t": tenant.pk})
            return dict(zip(tables, cursor.fetchone()))

    return count
