"""Data analysis: facts, daily statistics, dashboard and reports."""

from wedraw.data_analysis.api import register
from wedraw.data_analysis.models import db

__all__ = ["db", "register"]
