"""The WeChat client a sender sends through.

- Official Accounts belong to the Official Account service: their app secret is asked for
  over its internal API (service token), kept in this process for a minute, never stored
  here. The access token is the account's shared one, so the two services never knock
  each other's tokens out.
- Mini Programs, WeCom agents and group robots are kept here, encrypted
  (wedraw.core.crypto), until the services that own them offer the same internal route.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from wedraw.core.crypto import cipher_for
from wedraw.core.errors import ApiError
from wedraw.core.internal import call_service
from wedraw.wechat import (
    CallPolicy,
    MiniProgramConfig,
    OfficialAccountConfig,
    WeComAppConfig,
    group_robot,
    mini_program,
    official_account,
    wecom_app,
)

# Sends retry quickly inside one call (-1, a token refresh); longer waits are the engine's back-off.
SEND_POLICY = CallPolicy(max_retries=1, backoff=0.2, backoff_cap=1.0)
SEND_TIMEOUT = 10.0
CACHE_SECONDS = 60.0
SERVICE = "message_center"

_official: dict[tuple[str, str], tuple[OfficialAccountConfig, bool, str, float]] = {}
_lock = threading.Lock()


class CredentialsUnavailable(Exception):
    """The owner of the credentials could not be asked now (retry later)."""


class SenderGone(Exception):
    """The app behind a sender no longer exists or is disabled (final)."""


def official_account_info(settings, appid: str, *, fresh: bool = False) -> tuple[OfficialAccountConfig, bool, str]:
    """(config, enabled, name) of an Official Account, from the Official Account service."""
    key = (appid, settings.service_urls["wechat_official"])
    now = time.monotonic()
    with _lock:
        cached = _official.get(key)
    if cached and not fresh and now - cached[3] < CACHE_SECONDS:
        return cached[0], cached[1], cached[2]
    try:
        body = call_service(
            "wechat_official",
            "GET",
            f"/internal/wechat/accounts/{appid}/credentials",
            settings=settings,
            caller=SERVICE,
            timeout=5,
        )
    except ApiError as exc:
        if exc.code == 404:
            raise SenderGone(
                f"The Official Account {appid} is not registered in the Official Account service."
            ) from None
        raise CredentialsUnavailable(f"Official Account service: {exc.description}") from None
    config = OfficialAccountConfig(body["appid"], body["secret"])
    with _lock:
        _official[key] = (config, bool(body.get("enabled", True)), body.get("name") or appid, now)
    return config, bool(body.get("enabled", True)), body.get("name") or appid


def forget_cached() -> None:
    with _lock:
        _official.clear()


def encrypt_config(settings, config: dict[str, Any]) -> str:
    return cipher_for(settings).encrypt(json.dumps(config))


def decrypt_config(settings, sender) -> dict[str, Any]:
    if not sender.config_enc:
        raise SenderGone(f"Sender {sender.id} has no credentials.")
    return json.loads(cipher_for(settings).decrypt(sender.config_enc))


def app_for(settings, sender) -> Any:
    """The client of `sender` under the send policy (built once per process and credentials)."""
    if sender.kind == "official_account":
        config, enabled, _ = official_account_info(settings, sender.app_key)
        if not enabled:
            raise SenderGone(f"The Official Account {sender.app_key} is disabled in the Official Account service.")
        return official_account(settings, config, timeout=SEND_TIMEOUT, policy=SEND_POLICY)
    config = decrypt_config(settings, sender)
    if sender.kind == "mini_program":
        return mini_program(
            settings, MiniProgramConfig(config["appid"], config["secret"]), timeout=SEND_TIMEOUT, policy=SEND_POLICY
        )
    if sender.kind == "wecom_app":
        return wecom_app(
            settings,
            WeComAppConfig(config["corp_id"], int(config["agent_id"]), config["secret"]),
            timeout=SEND_TIMEOUT,
            policy=SEND_POLICY,
        )
    if sender.kind == "group_robot":
        return group_robot(settings, config["key"], timeout=SEND_TIMEOUT, policy=SEND_POLICY)
    raise SenderGone(f"Unknown sender kind {sender.kind!r}.")
