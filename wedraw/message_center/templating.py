"""Typed template variables, rendering and the checks that reject bad data before anything is queued.

Two kinds of template content:

- WeChat templates (Official Account template messages, Mini Program subscribe messages):
  WeChat's own content with `{{name.DATA}}` placeholders; the message carries
  `data: {name: {"value": ...}}`. Subscribe-message variable types follow WeChat's rules,
  read from the placeholder's name (`thing1` is a `thing`: at most 20 characters).
- Our text templates (customer-service, mass, WeCom and robot text or markdown): content
  with `{{name}}` placeholders, each declared with a type.

`check_values` raises `TemplateDataError` (a 422) naming every missing, unknown, too-long
or ill-typed variable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from wedraw.core.errors import ApiError

WECHAT_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\.DATA\s*\}\}")
TEXT_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,31}$")

_CHINESE = r"\u3400-\u9fff\uf900-\ufaff"
_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y年%m月%d日")
_TIME_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y/%m/%d %H:%M",
    "%Y年%m月%d日 %H:%M",
    "%H:%M",
    "%H:%M:%S",
)


def _parses(value: str, formats: tuple[str, ...]) -> bool:
    for fmt in formats:
        try:
            datetime.strptime(value, fmt)  # noqa: DTZ007 - a format check, not a time
            return True
        except ValueError:
            continue
    return False


@dataclass(frozen=True)
class VariableType:
    name: str
    description: str
    max_length: int | None
    pattern: re.Pattern | None = None
    formats: tuple[str, ...] = ()

    def problem(self, value: str) -> str | None:
        if self.pattern is not None and not self.pattern.fullmatch(value):
            return f"is not a valid {self.name} ({self.description})"
        if self.formats and not _parses(value, self.formats):
            return f"is not a valid {self.name} ({self.description})"
        return None


# WeChat's documented value rules for subscribe-message keywords, and our general types.
TYPES: dict[str, VariableType] = {
    t.name: t
    for t in (
        VariableType("string", "any text", 200),
        VariableType("url", "an http(s) URL", 1024, re.compile(r"https?://\S+")),
        VariableType("thing", "up to 20 characters", 20),
        VariableType("number", "digits, optionally with a decimal point", 32, re.compile(r"-?\d+(\.\d+)?")),
        VariableType("letter", "up to 32 letters", 32, re.compile(r"[A-Za-z]+")),
        VariableType("symbol", "up to 5 symbols", 5, re.compile(r"[^\sA-Za-z0-9" + _CHINESE + r"]+")),
        VariableType(
            "character_string",
            "up to 32 letters, digits or symbols (no Chinese)",
            32,
            re.compile(r"[^\s" + _CHINESE + r"]+"),
        ),
        VariableType("time", "a time such as 2026-01-31 15:01 or 15:01", 32, formats=_TIME_FORMATS),
        VariableType("date", "a date such as 2026-01-31", 32, formats=_DATE_FORMATS),
        VariableType(
            "amount", "an amount such as 12.50 or ¥12.50 or 12.50元", 32, re.compile(r"[¥$]?\d+(\.\d{1,2})?元?")
        ),
        VariableType("phone_number", "digits, +, - (up to 17)", 17, re.compile(r"[0-9+\-]+")),
        VariableType("car_number", "a plate number (up to 8 characters)", 8),
        VariableType("name", "up to 10 Chinese characters or 20 letters", 20),
        VariableType("phrase", "up to 5 Chinese characters", 5, re.compile(r"[" + _CHINESE + r"]+")),
    )
}
SUBSCRIBE_PREFIXES = (
    "character_string",
    "phone_number",
    "car_number",
    "thing",
    "number",
    "letter",
    "symbol",
    "time",
    "date",
    "amount",
    "name",
    "phrase",
)


class TemplateDataError(ApiError):
    def __init__(self, errors: dict[str, list[str]]):
        first = next(iter(errors))
        super().__init__(
            422,
            f"Template data rejected: {first} {errors[first][0]}"
            + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""),
            "invalid_template_data",
            errors={f"data.{k}": v for k, v in errors.items()},
        )


def wechat_placeholders(content: str) -> list[str]:
    return list(dict.fromkeys(WECHAT_PLACEHOLDER.findall(content)))


def text_placeholders(content: str) -> list[str]:
    return list(dict.fromkeys(TEXT_PLACEHOLDER.findall(content)))


def subscribe_type(name: str) -> str:
    """A subscribe-message keyword's type from its name: `thing1` → thing, `character_string2` → character_string."""
    for prefix in SUBSCRIBE_PREFIXES:
        if re.fullmatch(prefix + r"\d*", name):
            return prefix
    return "string"


def variables_for_wechat(content: str, *, subscribe: bool) -> list[dict]:
    """The typed variables of a WeChat template (Official Account `first`/`remark` are optional)."""
    variables = []
    for name in wechat_placeholders(content):
        kind = subscribe_type(name) if subscribe else "string"
        variables.append(
            {
                "name": name,
                "type": kind,
                "required": subscribe or name not in ("first", "remark"),
                "max_length": TYPES[kind].max_length,
                "description": "",
            }
        )
    return variables


def normalise_variables(declared: list[dict], content: str, *, text: bool) -> list[dict]:
    """Check operator-declared variables against the content; 422 naming what does not fit."""
    errors: dict[str, list[str]] = {}
    names = []
    for index, var in enumerate(declared):
        name = var.get("name", "")
        if not NAME.match(name):
            errors.setdefault(f"variables.{index}.name", []).append("Must be a name such as order_no.")
        if var.get("type", "string") not in TYPES:
            errors.setdefault(f"variables.{index}.type", []).append(f"Must be one of {', '.join(TYPES)}.")
        if name in names:
            errors.setdefault(f"variables.{index}.name", []).append("Declared twice.")
        names.append(name)
    used = text_placeholders(content) if text else wechat_placeholders(content)
    for name in used:
        if name not in names:
            errors.setdefault("variables", []).append(f"{{{{{name}}}}} is used in the content but not declared.")
    if errors:
        raise ApiError(422, "Invalid template variables: " + next(iter(errors.values()))[0], errors=errors)
    result = []
    for var in declared:
        kind = var.get("type", "string")
        limit = var.get("max_length") or TYPES[kind].max_length
        if TYPES[kind].max_length:
            limit = min(limit, TYPES[kind].max_length) if kind != "string" else limit
        result.append(
            {
                "name": var["name"],
                "type": kind,
                "required": var.get("required", True),
                "max_length": limit,
                "description": var.get("description", ""),
            }
        )
    return result


def check_values(variables: list[dict], data: dict | None) -> dict[str, str]:
    """The data as strings, checked against the template's variables (TemplateDataError on any problem)."""
    data = data or {}
    errors: dict[str, list[str]] = {}
    declared = {v["name"]: v for v in variables}
    if not isinstance(data, dict):
        raise TemplateDataError({"_": ["must be an object of variable values"]})
    for name in data:
        if name not in declared:
            errors.setdefault(name, []).append("is not a variable of this template")
    values: dict[str, str] = {}
    for name, var in declared.items():
        raw = data.get(name)
        if isinstance(raw, dict):  # {"value": ..., "color": ...} as WeChat writes it
            raw = raw.get("value")
        if raw is None or (isinstance(raw, str) and raw.strip() == ""):
            if var.get("required", True):
                errors.setdefault(name, []).append("is required")
            continue
        if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
            errors.setdefault(name, []).append("must be text or a number")
            continue
        value = str(raw)
        limit = var.get("max_length")
        if limit and len(value) > limit:
            errors.setdefault(name, []).append(f"is too long ({len(value)} characters, at most {limit})")
            continue
        problem = TYPES.get(var.get("type", "string"), TYPES["string"]).problem(value)
        if problem:
            errors.setdefault(name, []).append(problem)
            continue
        values[name] = value
    if errors:
        raise TemplateDataError(errors)
    return values


def render_wechat(content: str, values: dict[str, str]) -> str:
    """What the fan reads: WeChat's content with the values in place."""
    return WECHAT_PLACEHOLDER.sub(lambda m: values.get(m.group(1), ""), content)


def render_text(content: str, values: dict[str, str]) -> str:
    return TEXT_PLACEHOLDER.sub(lambda m: values.get(m.group(1), ""), content)
