"""The platform's permission catalogue and built-in roles.

Permissions are named `<area>:<thing>:<read|write>`. Every protected route declares one
of these; a test proves no route names a permission missing from this catalogue.
"""

from __future__ import annotations

# What the console shows operators (Simplified Chinese): area names and permission descriptions.
AREAS = {
    "user": "用户中心",
    "wechat": "公众号",
    "wecom": "企业微信",
    "miniprogram": "小程序",
    "points": "积分商城",
    "message": "消息中心",
    "analytics": "数据分析",
    "pii": "敏感信息",
}

_THINGS: dict[str, dict[str, str]] = {
    "user": {"users": "后台用户", "roles": "角色", "audit": "审计日志", "sessions": "登录日志与在线会话"},
    "wechat": {
        "accounts": "公众号账号",
        "fans": "粉丝",
        "tags": "标签",
        "menus": "自定义菜单",
        "replies": "自动回复",
        "qrcodes": "二维码",
        "materials": "素材",
        "messages": "消息记录与客服消息",
    },
    "wecom": {
        "corp": "企业配置",
        "contacts": "通讯录",
        "groups": "客户群与应用群聊",
        "robots": "群机器人",
        "messages": "应用消息",
    },
    "miniprogram": {"members": "小程序会员", "settings": "小程序配置"},
    "points": {
        "accounts": "积分账户与流水",
        "rules": "积分规则",
        "products": "商品与分类",
        "orders": "兑换订单",
    },
    "message": {
        "templates": "消息模板",
        "campaigns": "群发活动",
        "sends": "发送记录",
        "workers": "任务队列与 worker",
    },
    "analytics": {"dashboard": "数据看板", "reports": "报表"},
}

PII_READ = "pii:personal:read"


def _catalogue() -> dict[str, str]:
    perms: dict[str, str] = {}
    for area, things in _THINGS.items():
        for thing, label in things.items():
            perms[f"{area}:{thing}:read"] = f"查看{label}"
            perms[f"{area}:{thing}:write"] = f"管理{label}"
    perms[PII_READ] = "查看未脱敏的个人信息（手机号、邮箱）"
    return perms


PERMISSIONS: dict[str, str] = _catalogue()

BUILTIN_ROLES: dict[str, dict] = {
    "super_admin": {"description": "全部权限，含未脱敏的个人信息", "permissions": sorted(PERMISSIONS)},
    "operator": {
        "description": "运营全部业务并可查看审计日志；不能管理后台用户和角色，看不到未脱敏的个人信息",
        "permissions": sorted(p for p in PERMISSIONS if not p.startswith("user:") and p != PII_READ)
        + ["user:audit:read"],
    },
    "read_only": {
        "description": "只读：查看被授予的内容，不做任何修改",
        "permissions": sorted(p for p in PERMISSIONS if p.endswith(":read") and p != PII_READ),
    },
}


def describe(code: str) -> dict:
    return {"code": code, "area": code.split(":", 1)[0], "description": PERMISSIONS.get(code, code)}
