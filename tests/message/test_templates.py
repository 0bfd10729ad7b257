"""Templates: synced from WeChat, typed variables, previews, and bad data refused before anything is queued."""

from __future__ import annotations

import json

from sqlalchemy import func, select

TEMPLATES = "/api/message/templates"


def _preview(api, template_id, data: dict):
    return api.get(f"{TEMPLATES}/{template_id}/preview", query_string={"data": json.dumps(data, ensure_ascii=False)})


def test_official_templates_sync_from_wechat_and_resync_is_exact(api, senders, sandbox, demo):
    sender_id = senders["official_account"]["id"]
    first = api.post(f"{TEMPLATES}/sync", json={"sender_id": sender_id}).get_json()
    wechat = sandbox.world.accounts[demo.official.appid].templates
    assert sorted(t["wechat_template_id"] for t in first) == sorted(wechat)
    assert all(t["source"] == "wechat" and t["channel"] == "oa_template" for t in first)
    event = next(t for t in first if t["name"] == "活动报名成功通知")
    assert [(v["name"], v["required"]) for v in event["variables"]] == [
        ("first", False),
        ("keyword1", True),
        ("keyword2", True),
        ("keyword3", True),
        ("remark", False),
    ]
    # A template deleted in WeChat disappears at the next sync; the others keep their ids.
    del wechat[event["wechat_template_id"]]
    second = api.post(f"{TEMPLATES}/sync", json={"sender_id": sender_id}).get_json()
    assert {t["id"] for t in second} == {t["id"] for t in first} - {event["id"]}
    # Synced content is WeChat's: it cannot be edited here.
    edit = api.patch(f"{TEMPLATES}/{second[0]['id']}", json={"content": "{{x.DATA}}"})
    assert edit.status_code == 422


def test_preview_renders_and_names_every_bad_variable(api, oa_templates):
    template = oa_templates["订单状态通知"]
    ok = _preview(api, template["id"], {"keyword1": "P1", "keyword2": {"value": "已发货", "color": "#173177"}})
    assert ok.status_code == 200, ok.get_json()
    body = ok.get_json()
    assert body["text"] == "\n订单号：P1\n订单状态：已发货\n"
    assert body["message"]["data"] == {"keyword1": {"value": "P1"}, "keyword2": {"value": "已发货"}}
    bad = _preview(api, template["id"], {"keyword1": "x" * 201, "coupon": "A1"})
    assert bad.status_code == 422
    errors = bad.get_json()["errors"]
    assert errors["data.keyword1"] == ["is too long (201 characters, at most 200)"]
    assert errors["data.coupon"] == ["is not a variable of this template"]
    assert errors["data.keyword2"] == ["is required"]


def test_text_templates_declare_typed_variables(api, senders):
    create = {
        "channel": "group_robot",
        "sender_id": senders["group_robot"]["id"],
        "name": "告警",
        "msgtype": "markdown",
        "content": "**{{title}}** 于 {{when}} 触发，阈值 {{limit}}",
        "variables": [
            {"name": "title", "max_length": 10},
            {"name": "when", "type": "time"},
            {"name": "limit", "type": "number"},
        ],
    }
    undeclared = api.post(TEMPLATES, json={**create, "variables": create["variables"][:2]})
    assert undeclared.status_code == 422 and "{{limit}}" in undeclared.get_json()["message"]
    created = api.post(TEMPLATES, json=create)
    assert created.status_code == 201, created.get_json()
    template_id = created.get_json()["id"]
    good = _preview(api, template_id, {"title": "CPU", "when": "2026-01-31 15:01", "limit": 95})
    assert good.get_json()["text"] == "**CPU** 于 2026-01-31 15:01 触发，阈值 95"
    assert good.get_json()["message"]["msgtype"] == "markdown"
    bad = _preview(api, template_id, {"title": "CPU", "when": "yesterday", "limit": "ninety"})
    assert bad.status_code == 422
    assert set(bad.get_json()["errors"]) == {"data.when", "data.limit"}


def test_subscribe_template_types_follow_wechat_rules(api, senders, sandbox, demo):
    mp = sandbox.world.accounts[demo.miniprogram.appid]
    template = next(t for t in mp.templates.values() if t.title == "订单发货提醒")
    created = api.post(
        TEMPLATES,
        json={
            "channel": "mp_subscribe",
            "sender_id": senders["mini_program"]["id"],
            "name": "发货",
            "wechat_template_id": template.template_id,
            "content": template.content,
        },
    ).get_json()
    preview = _preview(
        api,
        created["id"],
        {"character_string1": "订单一", "thing2": "顺丰速运顺丰速运顺丰速运顺丰速运顺丰速运多", "time3": "15:01"},
    )
    assert preview.status_code == 422
    errors = preview.get_json()["errors"]
    assert "not a valid character_string" in errors["data.character_string1"][0]
    assert errors["data.thing2"] == ["is too long (21 characters, at most 20)"]


def test_a_send_with_bad_template_data_queues_nothing(api, senders, oa_templates, sandbox, demo, mc_app):
    from wedraw.message_center.models import Campaign, Delivery, db

    template = oa_templates["积分变动提醒"]
    openid = sandbox.world.accounts[demo.official.appid].users.openids[0]
    base = {"channel": "oa_template", "sender_id": senders["official_account"]["id"], "to": openid}
    missing = api.post("/api/message/sends", json={**base, "template_id": template["id"], "data": {"keyword1": "+10"}})
    unknown = api.post("/api/message/sends", json={**base, "template_id": 999_999, "data": {}})
    other_channel = api.post("/api/message/sends", json={**base, "channel": "oa_custom", "template_id": template["id"]})
    campaign = api.post(
        "/api/message/campaigns",
        json={
            "name": "bad",
            "channel": "oa_template",
            "sender_id": senders["official_account"]["id"],
            "template_id": template["id"],
            "data": {"keyword1": "+10", "keyword2": "1280", "extra": "x"},
            "audience": {"kind": "openids", "openids": [openid]},
            "start": True,
        },
    )
    assert [r.status_code for r in (missing, unknown, other_channel, campaign)] == [422, 422, 422, 422]
    assert missing.get_json()["errors"] == {"data.keyword2": ["is required"]}
    assert unknown.get_json()["errors"] == {"template_id": ["Unknown template."]}
    assert campaign.get_json()["errors"] == {"data.extra": ["is not a variable of this template"]}
    with mc_app.app_context():
        assert db.session.execute(select(func.count()).select_from(Delivery)).scalar_one() == 0
        assert db.session.execute(select(func.count()).select_from(Campaign)).scalar_one() == 0
    assert sandbox.control.outbox()["total"] == 0
