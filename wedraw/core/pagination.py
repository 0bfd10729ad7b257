"""Page arguments and page envelopes shared by every list endpoint."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

MAX_PAGE_SIZE = 100


class PageArgs(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=1_000_000))
    page_size = fields.Integer(load_default=20, validate=validate.Range(min=1, max=MAX_PAGE_SIZE))


_page_schemas: dict[str, type[Schema]] = {}


def page_of(item_schema: type[Schema]) -> type[Schema]:
    """A `{items, total, page, page_size}` schema around `item_schema` (one class per item type)."""
    name = item_schema.__name__.removesuffix("Schema") + "PageSchema"
    if name not in _page_schemas:
        _page_schemas[name] = type(
            name,
            (Schema,),
            {
                "items": fields.List(fields.Nested(item_schema), required=True),
                "total": fields.Integer(required=True),
                "page": fields.Integer(required=True),
                "page_size": fields.Integer(required=True),
            },
        )
    return _page_schemas[name]


def paginate(session, statement, page: int, page_size: int) -> dict:
    """Run `statement` (a select) for one page and count all of its rows."""
    from sqlalchemy import func, select

    total = session.execute(select(func.count()).select_from(statement.order_by(None).subquery())).scalar_one()
    items = session.execute(statement.limit(page_size).offset((page - 1) * page_size)).scalars().all()
    return {"items": items, "total": total, "page": page, "page_size": page_size}
