"""The demo accounts that exist only inside the sandbox.

The embedded profile talks to a demo Official Account, a demo Mini Program and a demo
WeCom corp (one agent, one group robot). Their credentials are not secret: they exist
nowhere but in the sandbox's seeded world. Each can be overridden by an environment
variable, read here once so the sandbox and the services agree on the same values.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from dataclasses import dataclass

from wedraw.core.config import ConfigError

DEFAULTS: dict[str, str] = {
    "WEDRAW_DEMO_WECHAT_APPID": "wxd3a0de3000000001",
    "WEDRAW_DEMO_WECHAT_SECRET": "d3a0de30000000000000000000000001",
    "WEDRAW_DEMO_WECHAT_TOKEN": "wedrawdemotoken",
    "WEDRAW_DEMO_WECHAT_AES_KEY": "V2VEcmF3RGVtb09mZmljaWFsQWNjb3VudEFFU0tleTE",
    "WEDRAW_DEMO_MINIPROGRAM_APPID": "wxd3a0de3000000002",
    "WEDRAW_DEMO_MINIPROGRAM_SECRET": "d3a0de30000000000000000000000002",
    "WEDRAW_DEMO_WECOM_CORP_ID": "wwd3a0de3000000001",
    "WEDRAW_DEMO_WECOM_SECRET": "WeDrawDemoWeComAgentSecret-000000000000001",
    "WEDRAW_DEMO_WECOM_AGENT_ID": "1000002",
    "WEDRAW_DEMO_WECOM_TOKEN": "wedrawdemowecom",
    "WEDRAW_DEMO_WECOM_AES_KEY": "V2VEcmF3RGVtb1dlQ29tQ29ycENhbGxiYWNrQUVTSzE",
    "WEDRAW_DEMO_WECOM_ROBOT_KEY": "d3a0de30-0000-4000-8000-000000000001",
}


@dataclass(frozen=True)
class DemoOfficialAccount:
    appid: str
    secret: str
    token: str
    aes_key: str


@dataclass(frozen=True)
class DemoMiniProgram:
    appid: str
    secret: str


@dataclass(frozen=True)
class DemoWeComCorp:
    corp_id: str
    secret: str
    agent_id: int
    token: str
    aes_key: str
    robot_key: str


@dataclass(frozen=True)
class DemoAccounts:
    official: DemoOfficialAccount
    miniprogram: DemoMiniProgram
    wecom: DemoWeComCorp


def check_aes_key(variable: str, value: str) -> str:
    """An EncodingAESKey is 43 base64 characters that decode (with '=') to 32 bytes."""
    try:
        ok = len(value) == 43 and len(base64.b64decode(value + "=", validate=True)) == 32
    except (binascii.Error, ValueError):
        ok = False
    if not ok:
        raise ConfigError(variable, "must be a 43-character EncodingAESKey (base64 of 32 bytes)")
    return value


def demo_accounts(environ: Mapping[str, str] | None = None) -> DemoAccounts:
    """The demo credentials: environment values over the fixed defaults."""
    environ = os.environ if environ is None else environ

    def value(name: str) -> str:
        return environ.get(name) or DEFAULTS[name]

    agent_raw = value("WEDRAW_DEMO_WECOM_AGENT_ID")
    if not agent_raw.isdigit():
        raise ConfigError("WEDRAW_DEMO_WECOM_AGENT_ID", f"must be an integer, got {agent_raw!r}")
    return DemoAccounts(
        official=DemoOfficialAccount(
            appid=value("WEDRAW_DEMO_WECHAT_APPID"),
            secret=value("WEDRAW_DEMO_WECHAT_SECRET"),
            token=value("WEDRAW_DEMO_WECHAT_TOKEN"),
            aes_key=check_aes_key("WEDRAW_DEMO_WECHAT_AES_KEY", value("WEDRAW_DEMO_WECHAT_AES_KEY")),
        ),
        miniprogram=DemoMiniProgram(
            appid=value("WEDRAW_DEMO_MINIPROGRAM_APPID"),
            secret=value("WEDRAW_DEMO_MINIPROGRAM_SECRET"),
        ),
        wecom=DemoWeComCorp(
            corp_id=value("WEDRAW_DEMO_WECOM_CORP_ID"),
            secret=value("WEDRAW_DEMO_WECOM_SECRET"),
            agent_id=int(agent_raw),
            token=value("WEDRAW_DEMO_WECOM_TOKEN"),
            aes_key=check_aes_key("WEDRAW_DEMO_WECOM_AES_KEY", value("WEDRAW_DEMO_WECOM_AES_KEY")),
            robot_key=value("WEDRAW_DEMO_WECOM_ROBOT_KEY"),
        ),
    )
