"""Callback helpers, and the sandbox's pusher round-tripping to a receiver built on them.

The pusher signs and encrypts with its own implementation (WeChat's side); the receiver
uses ours. The round trips prove the two agree on the protocol.
"""

from __future__ import annotations

import base64
import threading
import time

import pytest
from flask import Flask, abort, request

from wedraw.sandbox import wxcrypto
from wedraw.wechat import CallbackCodec, dedupe_key, text_reply
from wedraw.wechat.callbacks import (
    BadXml,
    CallbackError,
    DecryptError,
    InvalidSignature,
    MessageCrypto,
    StaleTimestamp,
    build_xml,
    check_signature,
    parse_xml,
    sha1_signature,
)

AES_KEY = base64.b64encode(b"0123456789abcdef0123456789abcdef").decode().rstrip("=")
NOW = 1_800_000_000


# --------------------------------------------------------------------------- signatures


def test_signature_checks_value_and_freshness():
    signature = sha1_signature("tok", str(NOW), "n1")
    check_signature("tok", signature, str(NOW), "n1", now=NOW + 300)
    with pytest.raises(InvalidSignature):
        check_signature("tok", signature[:-1] + "0", str(NOW), "n1", now=NOW)
    with pytest.raises(InvalidSignature):
        check_signature("other-token", signature, str(NOW), "n1", now=NOW)
    with pytest.raises(StaleTimestamp):
        check_signature("tok", signature, str(NOW), "n1", now=NOW + 301)
    with pytest.raises(StaleTimestamp):
        check_signature("tok", signature, str(NOW), "n1", now=NOW - 301)
    with pytest.raises(StaleTimestamp):
        check_signature("tok", signature, "yesterday", "n1", now=NOW)


def test_our_signature_matches_the_sandboxs():
    assert sha1_signature("tok", NOW, "nonce", "ENC") == wxcrypto.sha1_signature("tok", str(NOW), "nonce", "ENC")


# --------------------------------------------------------------------------- encryption


def test_encryption_agrees_with_wechats_side_both_ways():
    ours = MessageCrypto("tok", AES_KEY, "wxappid")
    assert ours.decrypt(wxcrypto.encrypt(AES_KEY, "wxappid", "<xml>你好</xml>".encode())) == "<xml>你好</xml>".encode()
    assert wxcrypto.decrypt(AES_KEY, "wxappid", ours.encrypt("<xml>reply</xml>")) == b"<xml>reply</xml>"
    for size in (0, 1, 11, 12, 13, 31, 32, 33, 1000):  # padding at and around block edges
        message = b"x" * size
        assert ours.decrypt(ours.encrypt(message)) == message
        assert len(base64.b64decode(ours.encrypt(message))) % 32 == 0


def test_decryption_refuses_what_was_not_meant_for_us():
    ours = MessageCrypto("tok", AES_KEY, "wxappid")
    with pytest.raises(DecryptError, match="another receiver"):
        ours.decrypt(wxcrypto.encrypt(AES_KEY, "wxsomeoneelse", b"<xml/>"))
    with pytest.raises(DecryptError, match="base64"):
        ours.decrypt("not base64!")
    with pytest.raises(DecryptError):
        ours.decrypt(base64.b64encode(b"\x00" * 32).decode())  # garbage: bad padding after decryption
    other_key = base64.b64encode(b"fedcba9876543210fedcba9876543210").decode().rstrip("=")
    with pytest.raises(DecryptError):
        MessageCrypto("tok", other_key, "wxappid").decrypt(ours.encrypt(b"<xml/>"))
    with pytest.raises(ValueError):
        MessageCrypto("tok", "short", "wxappid")


# --------------------------------------------------------------------------- XML


def test_parse_xml_reads_nested_and_repeated_elements():
    parsed = parse_xml(
        "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><CreateTime>1</CreateTime>"
        "<SendPicsInfo><Count>2</Count><PicList><item><PicMd5Sum>a</PicMd5Sum></item>"
        "<item><PicMd5Sum>b</PicMd5Sum></item></PicList></SendPicsInfo></xml>"
    )
    assert parsed["ToUserName"] == "gh_1" and parsed["CreateTime"] == "1"
    assert parsed["SendPicsInfo"]["PicList"]["item"] == [{"PicMd5Sum": "a"}, {"PicMd5Sum": "b"}]


@pytest.mark.parametrize(
    "body",
    [
        '<!DOCTYPE xml [<!ENTITY a "aaaa">]><xml><Content>&a;</Content></xml>',
        '<!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml><Content>&x;</Content></xml>',
        "<xml><Content>unclosed</xml>",
        "<xml></xml>",
        "<xml>" + "<a>x</a>" * 40_000 + "</xml>",
    ],
)
def test_parse_xml_refuses_dtds_entities_and_junk(body):
    with pytest.raises(BadXml):
        parse_xml(body)


def test_build_xml_escapes_cdata_terminators():
    xml = build_xml({"Content": "a]]>b", "CreateTime": 5})
    assert parse_xml(xml) == {"Content": "a]]>b", "CreateTime": "5"}


def test_dedupe_keys():
    text = {"ToUserName": "gh_1", "FromUserName": "o1", "CreateTime": "1", "MsgType": "text", "MsgId": "77"}
    job = {
        "ToUserName": "gh_1",
        "FromUserName": "mphelper",
        "CreateTime": "1",
        "Event": "MASSSENDJOBFINISH",
        "MsgID": "88",
    }
    click = {"ToUserName": "gh_1", "FromUserName": "o1", "CreateTime": "1", "MsgType": "event", "Event": "CLICK"}
    assert dedupe_key(text) == "gh_1:msg:77" and dedupe_key(job) == "gh_1:msg:88"
    assert dedupe_key({**click, "EventKey": "A"}) == dedupe_key({**click, "EventKey": "A"})
    assert dedupe_key({**click, "EventKey": "A"}) != dedupe_key({**click, "EventKey": "B"})
    change = {
        "ToUserName": "ww1",
        "FromUserName": "sys",
        "CreateTime": "1",
        "Event": "change_contact",
        "ChangeType": "update_user",
    }
    assert dedupe_key({**change, "UserID": "u1"}) != dedupe_key({**change, "UserID": "u2"})
    assert dedupe_key({**click, "ToUserName": "gh_2"}) != dedupe_key(click)


def test_codec_refuses_plaintext_when_encryption_is_required():
    codec = CallbackCodec("official", "tok", AES_KEY, "wxappid", require_encryption=True, clock=lambda: NOW)
    args = {"signature": sha1_signature("tok", NOW, "n"), "timestamp": str(NOW), "nonce": "n"}
    with pytest.raises(CallbackError, match="only accepts encrypted"):
        codec.open(args, b"<xml><MsgType>text</MsgType></xml>")


def test_codec_refuses_a_forged_encrypted_body():
    codec = CallbackCodec("wecom", "tok", AES_KEY, "wwcorp", clock=lambda: NOW)
    encrypted = wxcrypto.encrypt(AES_KEY, "wwcorp", b"<xml><MsgType>text</MsgType></xml>")
    body = build_xml({"ToUserName": "wwcorp", "Encrypt": encrypted}).encode()
    args = {"msg_signature": sha1_signature("not-the-token", NOW, "n", encrypted), "timestamp": str(NOW), "nonce": "n"}
    with pytest.raises(InvalidSignature):
        codec.open(args, body)
    args["msg_signature"] = sha1_signature("tok", NOW, "n", encrypted)
    assert codec.open(args, body).message == {"MsgType": "text"}


# --------------------------------------------------------------------------- round trips through the pusher


class Receiver:
    """The tiny callback receiver: verify, open, dedupe, reply "echo: ...", seal."""

    def __init__(self, codec: CallbackCodec):
        self.codec = codec
        self.received: list = []
        self.seen: set[str] = set()
        self.stall_first = 0.0  # seconds to sleep on the first POST (to make WeChat retry)
        self.garbage = False
        self.lock = threading.Lock()
        self.app = Flask(__name__)
        self.app.add_url_rule("/callback", "callback", self.handle, methods=["GET", "POST"])

    def handle(self):
        try:
            if request.method == "GET":
                return self.codec.verify_url(request.args)
            incoming = self.codec.open(request.args, request.get_data())
        except CallbackError:
            abort(403)
        with self.lock:
            first_time = incoming.dedupe_key not in self.seen
            self.seen.add(incoming.dedupe_key)
            self.received.append(incoming)
            stall, self.stall_first = self.stall_first, 0.0
        time.sleep(stall)
        if self.garbage:
            return "this is not XML"
        if incoming.message.get("MsgType") != "text":
            return "success"
        reply = text_reply(incoming.message, ("echo: " if first_time else "again: ") + incoming.message["Content"])
        return self.codec.seal(incoming, reply)


@pytest.fixture
def official_receiver(sandbox, serve):
    demo = sandbox.demo.official
    receiver = Receiver(CallbackCodec("official", demo.token, demo.aes_key, demo.appid))
    receiver.url = serve(receiver.app) + "/callback"
    sandbox.control.update_account(demo.appid, callback_url=receiver.url)
    return receiver


@pytest.fixture
def wecom_receiver(sandbox, serve):
    demo = sandbox.demo.wecom
    receiver = Receiver(CallbackCodec("wecom", demo.token, demo.aes_key, demo.corp_id))
    receiver.url = serve(receiver.app) + "/callback"
    sandbox.control.update_agent(demo.corp_id, demo.agent_id, callback_url=receiver.url)
    return receiver


@pytest.mark.parametrize("mode", ["plain", "compatible", "safe"])
def test_text_round_trip_in_every_mode(sandbox, official_receiver, mode):
    sandbox.control.update_account(sandbox.demo.official.appid, encrypt_mode=mode)
    fan = sandbox.control.users(sandbox.demo.official.appid, 0, 1)["users"][0]["openid"]
    push = sandbox.control.act("text", openid=fan, content="你好 <&> ]]>")["push"]
    assert push["mode"] == mode and push["status"] == "replied", push
    assert push["reply"]["Content"] == "echo: 你好 <&> ]]>" and push["reply"]["ToUserName"] == fan
    incoming = official_receiver.received[0]
    assert incoming.mode == mode and incoming.encrypted == (mode != "plain")
    assert incoming.message["Content"] == "你好 <&> ]]>" and incoming.message["FromUserName"] == fan
    assert push["reply_xml"].startswith("<xml>") and "Encrypt" not in push["reply"]
    assert sandbox.control.outbox(channel="passive_reply")["counts"] == {fan: 1}


def test_events_are_acknowledged(sandbox, official_receiver):
    push = sandbox.control.act("follow")["push"]  # a new fan
    assert push["status"] == "acked" and not push["user_sees_error"]
    event = official_receiver.received[0].message
    assert event["Event"] == "subscribe" and event["ToUserName"] == push["message"]["ToUserName"]


def test_scan_menu_and_unfollow_events(sandbox, official_receiver, oa):
    fan = sandbox.control.users(sandbox.demo.official.appid, 0, 1)["users"][0]["openid"]
    ticket = oa.call(
        oa.api.qrcode.create, {"action_name": "QR_LIMIT_STR_SCENE", "action_info": {"scene": {"scene_str": "store-7"}}}
    ).data["ticket"]
    assert oa.call(oa.api.menu.create, {"button": [{"type": "click", "name": "签到", "key": "CHECK_IN"}]}).ok
    sandbox.control.act("scan", openid=fan, ticket=ticket)
    sandbox.control.act("click", openid=fan, key="CHECK_IN")
    sandbox.control.act("unfollow", openid=fan)
    sandbox.control.act("scan", openid=fan, ticket=ticket)  # scanning while not following subscribes
    events = [(m.message["Event"], m.message.get("EventKey")) for m in official_receiver.received]
    assert events == [("SCAN", "store-7"), ("CLICK", "CHECK_IN"), ("unsubscribe", ""), ("subscribe", "qrscene_store-7")]
    assert oa.call(oa.api.user.get, fan).data["subscribe"] == 1


def test_wecom_round_trip(sandbox, wecom_receiver):
    push = sandbox.control.act("text", corp_id=sandbox.demo.wecom.corp_id, userid="user00002", content="请假")["push"]
    assert push["mode"] == "safe" and push["status"] == "replied"
    assert push["reply"]["Content"] == "echo: 请假" and push["reply"]["ToUserName"] == "user00002"
    incoming = wecom_receiver.received[0]
    assert incoming.message["AgentID"] == str(sandbox.demo.wecom.agent_id)


def test_callback_url_verification(sandbox, official_receiver, wecom_receiver):
    assert sandbox.control.verify_url(appid=sandbox.demo.official.appid)["ok"] is True
    assert sandbox.control.verify_url(corp_id=sandbox.demo.wecom.corp_id)["ok"] is True


def test_no_answer_in_time_is_retried_and_the_retry_is_a_duplicate(sandbox, official_receiver):
    official_receiver.stall_first = 1.0
    fan = sandbox.control.users(sandbox.demo.official.appid, 0, 1)["users"][0]["openid"]
    push = sandbox.control.act("text", openid=fan, content="hi", timeout=0.3)["push"]
    assert [a["error"] for a in push["attempts"]] == ["ReadTimeout", None]
    assert push["status"] == "replied" and push["reply"]["Content"] == "again: hi"
    first, second = official_receiver.received
    assert first.dedupe_key == second.dedupe_key


def test_three_tries_then_the_user_sees_an_error(sandbox):
    sandbox.control.update_account(sandbox.demo.official.appid, callback_url="http://127.0.0.1:9/nothing-here")
    fan = sandbox.control.users(sandbox.demo.official.appid, 0, 1)["users"][0]["openid"]
    push = sandbox.control.act("text", openid=fan, content="hi", timeout=0.3)["push"]
    assert push["status"] == "no_answer" and len(push["attempts"]) == 3 and push["user_sees_error"]


def test_a_reply_wechat_cannot_read(sandbox, official_receiver):
    official_receiver.garbage = True
    fan = sandbox.control.users(sandbox.demo.official.appid, 0, 1)["users"][0]["openid"]
    push = sandbox.control.act("text", openid=fan, content="hi")["push"]
    assert push["status"] == "invalid_reply" and push["user_sees_error"]


def test_job_finish_events_arrive_after_a_mass_send(sandbox, official_receiver, oa):
    openids = [u["openid"] for u in sandbox.control.users(sandbox.demo.official.appid, 0, 3)["users"]]
    msg_id = oa.call(oa.api.message.send_mass_text, openids, "hello").data["msg_id"]
    deadline = time.monotonic() + 5
    while not official_receiver.received and time.monotonic() < deadline:
        time.sleep(0.02)
    event = official_receiver.received[0].message
    assert event["Event"] == "MASSSENDJOBFINISH" and event["MsgID"] == str(msg_id)
    assert (event["TotalCount"], event["SentCount"], event["ErrorCount"]) == ("3", "3", "0")
