"""Health of every service, and the gateway's aggregate."""

from __future__ import annotations

import pytest

from tests.conftest import build_settings
from wedraw.core.factory import create_app
from wedraw.core.registry import SERVICES, WEB_SERVICES


@pytest.mark.parametrize("service", [s for s in WEB_SERVICES if s != "gateway"])
def test_every_service_reports_ok_with_its_database_checked(client, service):
    response = client(service).get("/health")
    assert response.status_code == 200
    body = response.get_json()
    assert body == {**body, "status": "ok", "service": service, "database": "ok"}


def test_unreachable_database_gives_503(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the database directory should be")
    settings = build_settings(
        tmp_path, WEDRAW_POINTS_MALL_DATABASE_URL=f"sqlite:///{blocker}/points.sqlite", WEDRAW_PROFILE="test"
    )
    app = create_app("points_mall", settings=settings)
    response = app.test_client().get("/health")
    assert response.status_code == 503
    assert response.get_json()["status"] == "error"
    assert response.get_json()["database"] == "error"


def test_gateway_aggregates_and_names_the_service_that_is_down(apps, serve, tmp_path):
    up = {name: serve(apps[name]) for name in WEB_SERVICES if name not in ("gateway", "wecom")}
    urls = {f"WEDRAW_{name.upper()}_URL": url for name, url in up.items()}
    urls["WEDRAW_WECOM_URL"] = "http://127.0.0.1:9"  # the discard port: nothing listens there
    settings = build_settings(tmp_path, **urls)
    gateway = create_app("gateway", settings=settings)
    response = gateway.test_client().get("/health")
    assert response.status_code == 503
    body = response.get_json()
    assert body["down"] == ["wecom"]
    assert body["services"]["user_center"]["status"] == "ok"
    assert set(body["services"]) == set(WEB_SERVICES) - {"gateway"}


def test_gateway_is_ok_when_every_service_is_up(apps, serve, tmp_path):
    urls = {f"WEDRAW_{n.upper()}_URL": serve(apps[n]) for n in WEB_SERVICES if n != "gateway"}
    gateway = create_app("gateway", settings=build_settings(tmp_path, **urls))
    response = gateway.test_client().get("/health")
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "ok"


def test_gateway_docs_list_every_service(apps, serve, tmp_path):
    urls = {f"WEDRAW_{n.upper()}_URL": serve(apps[n]) for n in WEB_SERVICES if n != "gateway"}
    gateway = create_app("gateway", settings=build_settings(tmp_path, **urls)).test_client()
    page = gateway.get("/docs").get_data(as_text=True)
    for name in WEB_SERVICES:
        if name != "gateway":
            assert f"/docs/specs/{name}.json" in page
            spec = gateway.get(f"/docs/specs/{name}.json")
            assert spec.status_code == 200
            assert spec.get_json()["info"]["title"] == f"WeDraw {SERVICES[name].title}"
    assert gateway.get("/docs/assets/swagger-ui-bundle.js").status_code == 200
    assert gateway.get("/docs/specs/nope.json").status_code == 404
