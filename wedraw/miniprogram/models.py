"""Tables of the miniprogram service (its own database)."""

from wedraw.core.db import make_db

db = make_db()
