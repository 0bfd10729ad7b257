"""The platform's journeys through Nginx, done by the real processes of the production layout.

WeChat's side is the sandbox program of the layout: its pushes go to the layout's Nginx (the
callback base is the layout's URL) and every API call of the services lands in it. Each request
here comes from a fresh loopback address so Nginx's per-IP limit never interferes with polling.
"""

from __future__ import annotations

import time
import uuid

import pytest

from wedraw.sandbox.client import SandboxControl

POLL = 0.5
ADDRESS = {"name": "张三", "phone": "13800000000", "address": "上海市浦东新区世纪大道 100 号"}


def wait_for(predicate, timeout: float = 90.0, message: str = "condition not met in time"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(POLL)
    raise AssertionError(f"{message} (last: {last!r})")


class Operator:
    """An admin in the console: every call through Nginx, each from an address of its own."""

    def __init__(self, layout):
        self.layout = layout
        self.headers = layout.login()

    def call(self, method: str, path: str, expect: int | tuple[int, ...] = 200, **kwargs):
        headers = {**self.headers, **kwargs.pop("headers", {})}
        response = self.layout.client().request(
            method, f"{self.layout.url}{path}", headers=headers, timeout=30, **kwargs
        )
        codes = (expect,) if isinstance(expect, int) else expect
        assert response.status_code in codes, (method, path, response.status_code, response.text[:500])
        return response.json() if response.content and "json" in response.headers.get("Content-Type", "") else response

    def get(self, path: str, **kwargs):
        return self.call("GET", path, **kwargs)

    def post(self, path: str, expect: int | tuple[int, ...] = (200, 201), **kwargs):
        return self.call("POST", path, expect=expect, **kwargs)


@pytest.fixture(scope="module")
def operator(layout):
    layout.wait_healthy()
    return Operator(layout)


@pytest.fixture(scope="module")
def wechat(layout):
    if not layout.stack.sandbox:
        pytest.skip("the layout runs without the WeChat sandbox")
    return SandboxControl(f"http://127.0.0.1:{layout.stack.ports['sandbox']}")


@pytest.fixture(scope="module")
def demo_account(operator):
    accounts = operator.get("/api/wechat/accounts")["items"]
    demo = next(a for a in accounts if a.get("demo"))
    assert demo["message_mode"] == "safe"
    return demo


def test_an_encrypted_callback_through_nginx_is_answered_and_the_fan_appears(operator, wechat, demo_account):
    appid = demo_account["appid"]
    followed = wechat.act("follow", appid=appid)
    openid, push = followed["from"], followed["push"]
    # WeChat's view: the AES-encrypted subscribe event went to Nginx and got the welcome reply in time.
    assert push["status"] == "replied", push
    assert push["mode"] == "safe" and push["url"].startswith(operator.layout.url), push
    assert "欢迎关注" in (push["reply"] or {}).get("Content", ""), push

    # The callback stored the fan; the Official Account worker fetched its profile from WeChat.
    fans = f"/api/wechat/accounts/{demo_account['id']}/fans"

    def fan():
        items = operator.get(f"{fans}?q={openid}")["items"]
        return items[0] if items and items[0].get("profile_synced_at") else None

    found = wait_for(fan, message="the fan did not appear with its profile")
    assert found["openid"] == openid and found["subscribed"] is True and found["unionid"]
    detail = operator.get(f"{fans}/{found['id']}")
    inbound = [(m["direction"], m["event"]) for m in detail["recent_messages"]]
    assert ("in", "subscribe") in inbound, detail


def test_a_campaign_is_sent_by_the_real_workers(operator, wechat, demo_account):
    appid = demo_account["appid"]
    senders = operator.get("/api/message/senders")["items"]
    sender = next(s for s in senders if s["kind"] == "official_account" and s["app_key"] == appid)
    templates = operator.post("/api/message/templates/sync", json={"sender_id": sender["id"]}, expect=200)
    template = next(t for t in templates if t["name"] == "积分变动提醒")
    openids = [u["openid"] for u in wechat.users(appid, limit=40)["users"] if u["subscribed"]][:12]
    assert len(openids) >= 5
    # One fan leaves before the campaign: WeChat answers 43004 for it, a final failure with its reason.
    wechat.act("unfollow", appid=appid, openid=openids[0])
    # WeChat is busy once: a retryable error, retried by the worker.
    wechat.fault("/cgi-bin/message/template/send", errcode=-1, times=1)
    campaign = operator.post(
        "/api/message/campaigns",
        json={
            "name": "端到端积分提醒",
            "channel": "oa_template",
            "sender_id": sender["id"],
            "template_id": template["id"],
            "data": {"keyword1": "+10", "keyword2": "110"},
            "audience": {"kind": "openids", "openids": openids},
            "start": True,
        },
        expect=201,
    )

    def finished():
        progress = operator.get(f"/api/message/campaigns/{campaign['id']}/progress")
        return progress if progress["status"] == "completed" else None

    progress = wait_for(finished, timeout=120, message="the campaign did not complete")
    assert progress["counts"]["sent"] == len(openids) - 1, progress
    assert progress["counts"]["failed_final"] == 1, progress
    assert wechat.faults() == []
    counts = wechat.outbox(app=appid, channel="template")["counts"]
    assert {o: counts.get(o) for o in openids[1:]} == dict.fromkeys(openids[1:], 1)
    assert openids[0] not in counts
    reasons = {r["errcode"]: r for r in operator.get(f"/api/message/campaigns/{campaign['id']}/failures")}
    assert reasons[43004]["count"] == 1 and reasons[43004]["meaning"] == "user has not subscribed"


def test_a_member_redeems_a_product_and_the_operator_ships_it(operator, wechat, layout):
    config = operator.layout.client().get(f"{layout.url}/api/miniprogram/config", timeout=10).json()
    code = wechat.wxlogin(config["appid"], new=True)["code"]
    member_http = layout.client()
    login = member_http.post(f"{layout.url}/api/miniprogram/login", json={"code": code}, timeout=10)
    assert login.status_code == 200, login.text
    member = {"Authorization": f"Bearer {login.json()['token']}"}
    # A member token opens no admin route.
    assert member_http.get(f"{layout.url}/api/points/orders", headers=member, timeout=10).status_code in (401, 403)

    product = operator.post(
        "/api/points/products",
        json={"name": f"端到端保温杯 {uuid.uuid4().hex[:6]}", "points_price": 40, "stock": 3, "on_shelf": True},
        expect=201,
    )
    me = member_http.get(f"{layout.url}/api/points/me", headers=member, timeout=10).json()
    operator.post(f"/api/points/accounts/{me['account_id']}/grants", json={"amount": 100, "reason": "端到端"})
    start = member_http.get(f"{layout.url}/api/points/me", headers=member, timeout=10).json()["balance"]

    key = uuid.uuid4().hex
    orders = [
        layout.client().post(
            f"{layout.url}/api/points/orders",
            json={"product_id": product["id"], "address": ADDRESS},
            headers={**member, "Idempotency-Key": key},
            timeout=10,
        )
        for _ in range(3)
    ]
    assert [o.status_code for o in orders][0] == 201, orders[0].text
    assert all(o.status_code in (200, 201) for o in orders), [o.text for o in orders]
    assert len({o.json()["id"] for o in orders}) == 1  # a retried request took nothing more
    order = orders[0].json()
    balance = member_http.get(f"{layout.url}/api/points/me", headers=member, timeout=10).json()["balance"]
    assert balance == start - 40
    assert operator.get(f"/api/points/products/{product['id']}")["stock"] == 2

    operator.post(f"/api/points/orders/{order['id']}/ship", json={"carrier": "顺丰速运", "tracking_no": "SF1234567890"})
    mine = member_http.get(f"{layout.url}/api/points/me/orders/{order['id']}", headers=member, timeout=10).json()
    assert mine["status"] == "shipped" and mine["tracking_no"] == "SF1234567890"
    ledger = member_http.get(f"{layout.url}/api/points/me/ledger", headers=member, timeout=10).json()["items"]
    assert sum(e["amount"] for e in ledger) == balance


def test_an_orders_report_is_generated_by_the_reports_worker(operator, layout):
    """A redemption's fact reaches data analysis (analytics worker); a report of it is written by the
    reports worker and downloaded through Nginx as a real XLSX file."""
    import io
    from datetime import UTC, datetime, timedelta

    from openpyxl import load_workbook

    code = uuid.uuid4().hex[:6]
    product = operator.post(
        "/api/points/products",
        json={"name": f"报表测试商品 {code}", "points_price": 10, "stock": 5, "on_shelf": True, "needs_address": False},
        expect=201,
    )
    wechat = SandboxControl(f"http://127.0.0.1:{layout.stack.ports['sandbox']}")
    appid = operator.layout.client().get(f"{layout.url}/api/miniprogram/config", timeout=10).json()["appid"]
    login = layout.client().post(
        f"{layout.url}/api/miniprogram/login", json={"code": wechat.wxlogin(appid, new=True)["code"]}, timeout=10
    )
    member = {"Authorization": f"Bearer {login.json()['token']}"}
    me = layout.client().get(f"{layout.url}/api/points/me", headers=member, timeout=10).json()
    operator.post(f"/api/points/accounts/{me['account_id']}/grants", json={"amount": 10, "reason": "报表"})
    order = layout.client().post(
        f"{layout.url}/api/points/orders",
        json={"product_id": product["id"]},
        headers={**member, "Idempotency-Key": uuid.uuid4().hex},
        timeout=10,
    )
    assert order.status_code == 201, order.text

    today = datetime.now(UTC).date()
    span = {"from": (today - timedelta(days=1)).isoformat(), "to": (today + timedelta(days=1)).isoformat()}

    def report_with_the_order():
        report = operator.post("/api/analytics/reports", json={"kind": "orders", "format": "xlsx", **span}, expect=202)

        def finished():
            body = operator.get(f"/api/analytics/reports/{report['id']}")
            return body if body["status"] in ("done", "failed") else None

        body = wait_for(finished, timeout=60, message="the report did not finish")
        assert body["status"] == "done", body
        download = operator.get(f"/api/analytics/reports/{report['id']}/download")
        sheet = load_workbook(io.BytesIO(download.content), read_only=True).active
        rows = [list(r) for r in sheet.iter_rows(values_only=True)]
        return rows if any(product["name"] in (r[3] or "") for r in rows[1:]) else None

    # The fact travels points mall → broker → analytics worker; a report asked before it landed lacks it.
    rows = wait_for(report_with_the_order, timeout=120, message="no report showed the order")
    assert rows[0][:4] == ["时间", "订单号", "商品 ID", "商品名称"]
    assert [r for r in rows[1:] if product["name"] in (r[3] or "")][0][5] == 10
