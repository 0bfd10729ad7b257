"""Tables of the wechat_official service (its own database)."""

from wedraw.core.db import make_db

db = make_db()
