"""`celery -A workers.beat beat`: sends every periodic job by name to its owner's queue."""

from __future__ import annotations

from celery import Celery
from celery.signals import setup_logging

from wedraw.core.celery_app import celery_config
from wedraw.core.config import load_settings
from wedraw.core.logs import configure_logging
from workers.schedule import beat_schedule


def build_beat_app(settings=None) -> Celery:
    settings = settings or load_settings()
    celery = Celery("wedraw.beat", set_as_current=False)
    celery.conf.update(celery_config(settings))
    celery.conf.beat_schedule = beat_schedule()
    celery.conf.beat_schedule_filename = str(settings.var_dir / "celerybeat-schedule")
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    return celery


@setup_logging.connect
def _json_logs(**_):
    configure_logging("beat", load_settings().log_level)


celery = build_beat_app()
