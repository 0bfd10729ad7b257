"""Entry point for gunicorn: `WEDRAW_SERVICE=user_center gunicorn wsgi:app`.

Each Supervisor program sets WEDRAW_SERVICE to the registry name of its service.
"""

import os

from wedraw.core.factory import create_app

app = create_app(os.environ.get("WEDRAW_SERVICE", "gateway"))
