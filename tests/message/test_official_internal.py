"""The Official Account service's internal routes that the message center uses (service tokens only)."""

from __future__ import annotations

from sqlalchemy import select

from tests.message.conftest import seed_fans, seed_tag
from wedraw.core.internal import service_token


def _client(official_app, settings):
    client = official_app.test_client()
    headers = {"Authorization": f"Bearer {service_token(settings, 'message_center')}"}
    return client, headers


def test_only_service_tokens_open_the_internal_routes(official_app, admin, oa_account, demo):
    client = official_app.test_client()
    path = f"/internal/wechat/accounts/{demo.official.appid}/credentials"
    assert client.get(path).status_code == 401
    assert client.get(path, headers=admin.headers).status_code == 403
    openapi = client.get("/openapi.json").get_json()
    assert not [p for p in openapi["paths"] if p.startswith("/internal")]


def test_credentials_and_accounts(official_app, settings, oa_account, demo):
    client, headers = _client(official_app, settings)
    body = client.get(f"/internal/wechat/accounts/{demo.official.appid}/credentials", headers=headers).get_json()
    assert body == {"appid": demo.official.appid, "name": "演示", "enabled": True, "secret": demo.official.secret}
    assert client.get("/internal/wechat/accounts/wxnope/credentials", headers=headers).status_code == 404
    listed = client.get("/internal/wechat/accounts", headers=headers).get_json()
    assert listed == {"accounts": [{"appid": demo.official.appid, "name": "演示", "enabled": True}]}


def test_audience_pages_counts_and_fan_updates(official_app, settings, oa_account, sandbox, demo):
    from wedraw.wechat_official.models import Fan, db

    appid = demo.official.appid
    subscribed = seed_fans(official_app, sandbox, appid)
    client, headers = _client(official_app, settings)
    pages, after, total = [], 0, None
    while True:
        body = client.get(
            "/internal/wechat/audience",
            headers=headers,
            query_string={"appid": appid, "after": after, "limit": 25, "with_total": True},
        ).get_json()
        total = body["total"]
        pages.append([f["openid"] for f in body["fans"]])
        if body["next"] is None:
            break
        after = body["next"]
    assert [len(p) for p in pages] == [25, 25, 10] and total == 60
    assert [o for p in pages for o in p] == subscribed
    users = sandbox.world.accounts[appid].users
    tagged = [o for i, o in enumerate(users.openids[:60]) if 100 in users.tags_of(i)]
    count = client.get(
        "/internal/wechat/audience/count", headers=headers, query_string={"appid": appid, "kind": "tag", "tag_id": 100}
    ).get_json()
    assert count == {"count": len(tagged), "tag_name": None}  # the account's tags not synced yet
    seed_tag(official_app, appid, 100, "VIP")
    count = client.get(
        "/internal/wechat/audience/count", headers=headers, query_string={"appid": appid, "kind": "tag", "tag_id": 100}
    ).get_json()
    assert count == {"count": len(tagged), "tag_name": "VIP"}
    everyone = client.get("/internal/wechat/audience/count", headers=headers, query_string={"appid": appid})
    assert everyone.get_json() == {"count": 60}
    no_tag = client.get(
        "/internal/wechat/audience/count", headers=headers, query_string={"appid": appid, "kind": "tag"}
    )
    assert no_tag.status_code == 422
    marked = client.post(
        "/internal/wechat/fans/unsubscribed",
        headers=headers,
        json={"appid": appid, "openids": subscribed[:3] + ["o-unknown"]},
    ).get_json()
    assert marked == {"updated": 3}
    assert client.get("/internal/wechat/audience/count", headers=headers, query_string={"appid": appid}).get_json() == {
        "count": 57
    }
    assert client.get(
        "/internal/wechat/audience/count", headers=headers, query_string={"appid": appid, "kind": "all"}
    ).get_json() == {"count": 60}
    with official_app.app_context():
        unionid = db.session.execute(select(Fan.unionid).where(Fan.openid == subscribed[5])).scalar_one()
    found = client.post(
        "/internal/wechat/fans/by-unionid", headers=headers, json={"appid": appid, "unionids": [unionid, "u-unknown"]}
    ).get_json()
    assert found == {"openids": {unionid: subscribed[5]}}
