"""Tables of the data_analysis service (its own database)."""

from wedraw.core.db import make_db

db = make_db()
