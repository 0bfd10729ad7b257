"""Contract fuzzing: schemathesis drives every operation of every service's OpenAPI document
as a super_admin and fails on any 5xx or on a response that breaks the document."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from wedraw.core.registry import WEB_SERVICES

pytestmark = pytest.mark.slow

FUZZ_USER = "fuzzer"
FUZZ_PASSWORD = "Fuzz-pass-2026"


@pytest.fixture
def fuzz_headers(apps):
    """Fresh super_admin headers for each example: fuzzing may disable or re-password users."""
    from flask_jwt_extended import create_access_token

    from wedraw.user_center.models import AdminUser, Role, db
    from wedraw.user_center.services import _issue_tokens, hash_password
    from wedraw.user_center.services import login as service_login

    def headers() -> dict:
        with apps["user_center"].test_request_context():
            user = db.session.query(AdminUser).filter_by(username=FUZZ_USER).one_or_none()
            role = db.session.query(Role).filter_by(name="super_admin").one()
            if user is None:
                user = AdminUser(username=FUZZ_USER, password_hash=hash_password(FUZZ_PASSWORD), display_name="fuzz")
                db.session.add(user)
            user.status = "active"
            user.password_hash = hash_password(FUZZ_PASSWORD)
            if role not in user.roles:
                user.roles.append(role)
            db.session.commit()
            tokens = service_login(FUZZ_USER, FUZZ_PASSWORD, "127.0.0.2", "schemathesis")
            assert _issue_tokens and create_access_token  # the real sign-in path issued them
        return {"Authorization": f"Bearer {tokens['access_token']}"}

    return headers


CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]


@pytest.mark.parametrize("service", WEB_SERVICES)
def test_every_operation_honours_its_contract(service, apps, fuzz_headers):
    schema = schemathesis.openapi.from_wsgi("/openapi.json", apps[service])
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def honours_contract(case):
            case.call_and_validate(headers=fuzz_headers(), checks=CHECKS)

        honours_contract()
    assert operations or service != "user_center"
