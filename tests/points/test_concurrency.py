"""Races, over real HTTP with real threads: nothing is sold twice, minted, or lost (SQLite and MariaDB)."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import requests
from sqlalchemy import func, select

from tests.points.conftest import assert_books_balance


def _fire(n: int, call):
    """Run `call(i)` n times at once (a barrier releases them together); the results in order."""
    barrier = threading.Barrier(n)

    def run(i):
        barrier.wait(timeout=30)
        return call(i)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n)))


def test_concurrent_redemption_sells_exactly_the_stock(apps, serve, make_member, product, fund):
    base = serve(apps["points_mall"])
    item = product(price=10, stock=6)
    members = [make_member() for _ in range(16)]
    for member in members:
        fund(member, 30)

    def buy(i):
        response = requests.post(
            f"{base}/api/points/orders",
            json={"product_id": item["id"], "quantity": 1},
            headers=members[i].order_headers(),
            timeout=60,
        )
        return response.status_code, response.json().get("code")

    results = _fire(len(members), buy)
    created = [r for r in results if r[0] == 201]
    refused = [r for r in results if r[0] != 201]
    assert len(created) == 6, results
    assert refused and all(r == (409, "insufficient_stock") for r in refused), results
    state = assert_books_balance(apps)
    assert state["products"][item["id"]] == (0, 6)
    spent = sorted(row["balance"] for row in state["accounts"].values())
    assert spent == [20] * 6 + [30] * 10


def test_the_same_idempotency_key_ten_times_at_once_makes_one_order(apps, serve, make_member, product, fund):
    from wedraw.points_mall.models import Order, db

    base = serve(apps["points_mall"])
    item = product(price=25, stock=100)
    member = make_member()
    fund(member, 1000)
    key = f"double-click-{uuid.uuid4().hex}"

    def buy(_i):
        response = requests.post(
            f"{base}/api/points/orders",
            json={"product_id": item["id"], "quantity": 2},
            headers=member.order_headers(key),
            timeout=60,
        )
        return response.status_code, response.json()["order_no"]

    results = _fire(10, buy)
    assert len({order_no for _s, order_no in results}) == 1, results
    assert sorted(s for s, _o in results) == [200] * 9 + [201]
    with apps["points_mall"].app_context():
        assert db.session.execute(select(func.count()).select_from(Order)).scalar_one() == 1
    state = assert_books_balance(apps)
    assert state["products"][item["id"]] == (98, 2)
    assert [row["balance"] for row in state["accounts"].values()] == [950]


def test_twenty_concurrent_sign_ins_by_one_member_make_one(apps, serve, make_member):
    from wedraw.points_mall.models import LedgerEntry, SignIn, db

    base = serve(apps["points_mall"])
    member = make_member()
    requests.get(f"{base}/api/points/me", headers=member.headers, timeout=30)  # the account exists

    def sign(_i):
        response = requests.post(f"{base}/api/points/me/sign-ins", headers=member.headers, timeout=60)
        return response.status_code, response.json().get("code")

    results = _fire(20, sign)
    assert sorted(results, key=str) == sorted([(201, None)] + [(409, "already_signed_in")] * 19, key=str), results
    with apps["points_mall"].app_context():
        assert db.session.execute(select(func.count()).select_from(SignIn)).scalar_one() == 1
        assert db.session.execute(select(func.count()).select_from(LedgerEntry)).scalar_one() == 1
    state = assert_books_balance(apps)
    assert [row["balance"] for row in state["accounts"].values()] == [10]


def test_a_member_first_seen_by_many_requests_at_once_gets_one_account(apps, serve, make_member):
    from wedraw.points_mall.models import PointsAccount, db

    base = serve(apps["points_mall"])
    member = make_member()

    def look(_i):
        return requests.get(f"{base}/api/points/me", headers=member.headers, timeout=60).json()["account_id"]

    ids = _fire(12, look)
    assert len(set(ids)) == 1
    with apps["points_mall"].app_context():
        assert db.session.execute(select(func.count()).select_from(PointsAccount)).scalar_one() == 1


def test_a_double_refund_at_once_returns_the_points_once(apps, serve, admin, make_member, product, fund, points):
    base = serve(apps["points_mall"])
    member = make_member()
    fund(member, 100)
    item = product(price=40, stock=2)
    order = points.post(
        "/api/points/orders", json={"product_id": item["id"]}, headers=member.order_headers()
    ).get_json()

    def cancel(_i):
        return requests.post(
            f"{base}/api/points/orders/{order['id']}/cancel",
            json={"reason": "重复点击"},
            headers=admin.headers,
            timeout=60,
        ).status_code

    results = _fire(6, cancel)
    assert sorted(results) == [200] + [409] * 5
    state = assert_books_balance(apps)
    assert [row["balance"] for row in state["accounts"].values()] == [100]
    assert state["products"][item["id"]] == (2, 0)
