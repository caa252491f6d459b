"""Schemathesis against /api/v1/openapi.json: no server error and no answer outside the documented schema.

Every operation is called with generated input, valid (positive) and deliberately wrong (negative),
signed in. Schemathesis's checks cover server errors, the documented status codes, content types,
headers and bodies, that wrong input is refused and valid input accepted, that authentication is
enforced (the documented 401s), and that methods a path does not take answer 405 with an Allow
header (TRACE among them). Driven by Hypothesis directly: schemathesis's lazy pytest loader does
not run under pytest 9.
"""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance

from tests.faults.helpers import user

pytestmark = pytest.mark.faults

EXAMPLES = 30
# Valid under the schema but refused on purpose, so "valid data is accepted" cannot hold for them:
# random bytes are `format: binary` but no photo (400, as it must be); `format: email` admits
# reserved domains (.test, .invalid, localhost) that email-validator refuses as undeliverable.
UNGENERATABLE = {
    ("POST", "/books"): [positive_data_acceptance],
    ("POST", "/users"): [positive_data_acceptance],
    ("POST", "/tokens"): [positive_data_acceptance],
    # Random bytes are no recording (400 not_audio); without a transcriber every recording is 404 voice_hints_off.
    ("POST", "/transcriptions"): [positive_data_acceptance],
    # This deployment has no SMTP server: a confirmation mail cannot be sent (409 mail_unavailable).
    ("POST", "/users/me/confirmation"): [positive_data_acceptance],
}


def test_the_api_keeps_to_its_openapi_document(fault_app):
    bearer = user(fault_app.test_client(), "fuzz@example.com")
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", fault_app)
    failures: list[str] = []
    calls = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in GenerationMode:
            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
            def run(case):
                nonlocal calls
                calls += 1
                excluded = UNGENERATABLE.get((operation.method.upper(), operation.path), [])
                case.call_and_validate(headers=bearer, excluded_checks=excluded)

            try:
                run()
            except (Exception, BaseExceptionGroup) as exc:
                if isinstance(exc, Unsatisfiable) and mode is GenerationMode.NEGATIVE:
                    continue  # an operation with no parameters and no body (GET /styles) has no wrong input to make  # one operation's failure is reported with the others
                failures.append(f"{operation.method.upper()} {operation.path} ({mode.value}): {str(exc)[:1500]}")
    print(f"\nschemathesis: {calls} calls, {len(failures)} failing operations")
    assert failures == [], "\n\n".join(failures)
