"""Fixtures for the points mall: member tokens, products and grants made through the API, a real worker."""

from __future__ import annotations

import itertools
import uuid

import pytest
from flask_jwt_extended import create_access_token
from sqlalchemy import func, select

from wedraw.core.auth import MEMBER, MEMBER_AUDIENCE

_ids = itertools.count(1)


class Member:
    def __init__(self, token: str, key: str, member_id: int):
        self.token = token
        self.key = key
        self.member_id = member_id

    @property
    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"}

    def order_headers(self, key: str | None = None) -> dict:
        return {**self.headers, "Idempotency-Key": key or uuid.uuid4().hex}


@pytest.fixture(autouse=True)
def audit(request):
    """Admin writes are audited into this list instead of the user center's queue: no user center worker runs
    here, and records left in the shared queue would reach a later test's audit log."""
    records: list[dict] = []
    if "apps" not in request.fixturenames:
        yield records
        return
    apps = request.getfixturevalue("apps")
    saved = {name: app.extensions.get("wedraw.audit_sink") for name, app in apps.items()}
    for app in apps.values():
        app.extensions["wedraw.audit_sink"] = records.append
    yield records
    for name, app in apps.items():
        app.extensions["wedraw.audit_sink"] = saved[name]


@pytest.fixture
def points(apps):
    return apps["points_mall"].test_client()


@pytest.fixture
def make_member(apps):
    """A member token as the miniprogram service issues it (kind member, audience wedraw-member)."""

    def make(key: str | None = None, unionid: str | None = None) -> Member:
        member_id = next(_ids) + 1000
        unionid = unionid or f"oUnion{uuid.uuid4().hex[:22]}"
        key = key or f"unionid:{unionid}"
        claims = {
            "kind": MEMBER,
            "aud": MEMBER_AUDIENCE,
            "mkey": key,
            "sid": f"member-{member_id}-1",
            "appid": "wxtestmp0000000001",
            "openid": f"o{uuid.uuid4().hex[:27]}",
            "unionid": unionid,
        }
        with apps["points_mall"].app_context():
            token = create_access_token(identity=str(member_id), additional_claims=claims)
        return Member(token, key, member_id)

    return make


@pytest.fixture
def admin_api(points, admin):
    class Api:
        def __getattr__(self, method):
            def call(path, **kwargs):
                kwargs.setdefault("headers", admin.headers)
                return points.open(path, method=method.upper(), **kwargs)

            return call

    return Api()


@pytest.fixture
def product(admin_api):
    """Create a product through the admin API: product(price=100, stock=10, limit=None, on_shelf=True)."""

    def make(price: int = 100, stock: int = 10, limit: int | None = None, on_shelf: bool = True, **extra) -> dict:
        body = {
            "name": extra.pop("name", f"商品{next(_ids)}"),
            "points_price": price,
            "stock": stock,
            "per_member_limit": limit,
            "on_shelf": on_shelf,
            "needs_address": extra.pop("needs_address", False),
            **extra,
        }
        response = admin_api.post("/api/points/products", json=body)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    return make


@pytest.fixture
def fund(points, admin_api):
    """Give a member `amount` points through an admin grant; returns the account id."""

    def give(member: Member, amount: int) -> int:
        account_id = points.get("/api/points/me", headers=member.headers).get_json()["account_id"]
        response = admin_api.post(
            f"/api/points/accounts/{account_id}/grants", json={"amount": amount, "reason": "测试"}
        )
        assert response.status_code == 201, response.get_json()
        return account_id

    return give


def redeem(points, member: Member, product_id: int, quantity: int = 1, key: str | None = None, **body):
    return points.post(
        "/api/points/orders",
        json={"product_id": product_id, "quantity": quantity, **body},
        headers=member.order_headers(key),
    )


def ledger_state(apps) -> dict:
    """Every account's balance, ledger sum and open lots; stock and sold of every product."""
    from wedraw.points_mall.models import LedgerEntry, PointsAccount, PointsLot, Product, db

    with apps["points_mall"].app_context():
        accounts = {
            a.id: {
                "balance": a.balance,
                "ledger": db.session.execute(
                    select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(LedgerEntry.account_id == a.id)
                ).scalar_one(),
                "lots": db.session.execute(
                    select(func.coalesce(func.sum(PointsLot.remaining), 0)).where(PointsLot.account_id == a.id)
                ).scalar_one(),
            }
            for a in db.session.execute(select(PointsAccount)).scalars()
        }
        products = {p.id: (p.stock, p.sold) for p in db.session.execute(select(Product)).scalars()}
        entries = db.session.execute(select(func.count()).select_from(LedgerEntry)).scalar_one()
        db.session.remove()
    return {"accounts": accounts, "products": products, "entries": entries}


def assert_books_balance(apps) -> dict:
    state = ledger_state(apps)
    for account_id, row in state["accounts"].items():
        assert row["balance"] >= 0, (account_id, row)
        assert row["balance"] == row["ledger"] == row["lots"], (account_id, row)
    return state
