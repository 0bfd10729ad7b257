"""Credentials of the WeChat apps the platform acts for.

The demo accounts (embedded profile) come from `wedraw.sandbox.demo`, the one place that
defines them, so the sandbox and the services agree. They exist only in the sandbox:
asking for them while pointed at real WeChat is a configuration error.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from wedraw.core.config import Settings
from wedraw.wechat.callbacks import CallbackCodec


@dataclass(frozen=True)
class OfficialAccountConfig:
    appid: str
    secret: str = field(repr=False)
    token: str | None = field(default=None, repr=False)
    aes_key: str | None = field(default=None, repr=False)

    def callback_codec(self, require_encryption: bool = False) -> CallbackCodec:
        if not self.token:
            raise ValueError(f"{self.appid} has no callback token configured")
        return CallbackCodec("official", self.token, self.aes_key, self.appid, require_encryption=require_encryption)


@dataclass(frozen=True)
class MiniProgramConfig:
    appid: str
    secret: str = field(repr=False)


@dataclass(frozen=True)
class WeComAppConfig:
    corp_id: str
    agent_id: int
    secret: str = field(repr=False)
    token: str | None = field(default=None, repr=False)
    aes_key: str | None = field(default=None, repr=False)

    def callback_codec(self) -> CallbackCodec:
        if not (self.token and self.aes_key):
            raise ValueError(f"{self.corp_id}/{self.agent_id} has no callback token and EncodingAESKey configured")
        return CallbackCodec("wecom", self.token, self.aes_key, self.corp_id)


def _demo(settings: Settings):
    if not (settings.wechat_api_base and settings.wecom_api_base):
        raise RuntimeError(
            "the demo WeChat accounts exist only in the sandbox; set WEDRAW_WECHAT_API_BASE and "
            "WEDRAW_WECOM_API_BASE to the sandbox, or configure real credentials"
        )
    from wedraw.sandbox.demo import demo_accounts

    return demo_accounts(settings.extra)


def demo_official_account(settings: Settings) -> OfficialAccountConfig:
    demo = _demo(settings).official
    return OfficialAccountConfig(demo.appid, demo.secret, demo.token, demo.aes_key)


def demo_mini_program(settings: Settings) -> MiniProgramConfig:
    demo = _demo(settings).miniprogram
    return MiniProgramConfig(demo.appid, demo.secret)


def demo_wecom_app(settings: Settings) -> WeComAppConfig:
    demo = _demo(settings).wecom
    return WeComAppConfig(demo.corp_id, demo.agent_id, demo.secret, demo.token, demo.aes_key)


def demo_robot_key(settings: Settings) -> str:
    return _demo(settings).wecom.robot_key
