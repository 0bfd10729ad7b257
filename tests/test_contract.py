"""Contract fuzzing: schemathesis drives every operation of every service's OpenAPI document
as a super_admin and fails on any 5xx or on a response that breaks the document."""

from __future__ import annotations

import pytest
import schemathesis
from flask_jwt_extended import decode_token
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
    """super_admin headers for each example, signed in again whenever fuzzing changed what they rest on.

    An example may disable or re-password the fuzzer, take its role away, change the role's
    permissions or end its session; then the next example signs in afresh (through the real sign-in
    path). Otherwise the headers are reused: two Argon2id hashes per example would dominate the run.
    """
    from wedraw.user_center.models import AdminUser, LoginSession, Role, db
    from wedraw.user_center.services import hash_password
    from wedraw.user_center.services import login as service_login

    current: dict = {}

    def state(user, role) -> tuple:
        session = db.session.get(LoginSession, current.get("sid", ""))
        return (
            user.status,
            user.password_hash,
            role in user.roles,
            role.permissions_json,
            session is not None and session.revoked_at is None,
        )

    def headers() -> dict:
        with apps["user_center"].test_request_context():
            db.session.expire_all()
            user = db.session.query(AdminUser).filter_by(username=FUZZ_USER).one_or_none()
            role = db.session.query(Role).filter_by(name="super_admin").one()
            if user is not None and current and state(user, role) == current["state"]:
                return current["headers"]
            if user is None:
                user = AdminUser(username=FUZZ_USER, password_hash=hash_password(FUZZ_PASSWORD), display_name="fuzz")
                db.session.add(user)
            user.status = "active"
            user.password_hash = hash_password(FUZZ_PASSWORD)
            if role not in user.roles:
                user.roles.append(role)
            db.session.commit()
            tokens = service_login(FUZZ_USER, FUZZ_PASSWORD, "127.0.0.2", "schemathesis")
            current["sid"] = decode_token(tokens["access_token"])["sid"]
            user = db.session.query(AdminUser).filter_by(username=FUZZ_USER).one()
            current["state"] = state(user, role)
            current["headers"] = {"Authorization": f"Bearer {tokens['access_token']}"}
            return current["headers"]

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
