"""Celery bootstrap: worker programs per queue, the beat schedule, the queue names."""
