"""The WeChat client layer: wechatpy clients, one shared access token per app, one call policy.

Services reach WeChat only through here:

    from wedraw.wechat import official_account, demo_official_account, Ok, Final

    oa = official_account(settings, demo_official_account(settings))
    match oa.call(oa.api.message.send_template, openid, template_id, data):
        case Ok(data=answer): ...
        case Final(errcode=43004): ...   # not subscribed: final for this recipient
        case result: ...                 # Retryable: try again later (result.retry_after)

Pointing at the sandbox is configuration (`WEDRAW_WECHAT_API_BASE`, `WEDRAW_WECOM_API_BASE`).
"""

from wedraw.wechat.accounts import (
    MiniProgramConfig,
    OfficialAccountConfig,
    WeComAppConfig,
    demo_mini_program,
    demo_official_account,
    demo_robot_key,
    demo_wecom_app,
)
from wedraw.wechat.callbacks import CallbackCodec, CallbackError, Incoming, dedupe_key, parse_xml, text_reply
from wedraw.wechat.clients import (
    MiniProgram,
    OfficialAccount,
    WeChatApp,
    WeComApp,
    group_robot,
    invalid_recipients,
    mini_program,
    official_account,
    refresh_tokens_ahead,
    reset_clients,
    wecom_app,
)
from wedraw.wechat.metrics import metrics
from wedraw.wechat.policy import CallPolicy, CallResult, Final, Ok, Retryable
from wedraw.wechat.robot import GroupRobot

__all__ = [
    "CallPolicy",
    "CallResult",
    "CallbackCodec",
    "CallbackError",
    "Final",
    "GroupRobot",
    "Incoming",
    "MiniProgram",
    "MiniProgramConfig",
    "Ok",
    "OfficialAccount",
    "OfficialAccountConfig",
    "Retryable",
    "WeChatApp",
    "WeComApp",
    "WeComAppConfig",
    "dedupe_key",
    "demo_mini_program",
    "demo_official_account",
    "demo_robot_key",
    "demo_wecom_app",
    "group_robot",
    "invalid_recipients",
    "metrics",
    "mini_program",
    "official_account",
    "parse_xml",
    "refresh_tokens_ahead",
    "reset_clients",
    "text_reply",
    "wecom_app",
]
