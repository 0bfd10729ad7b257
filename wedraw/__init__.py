"""WeDraw: one admin platform for a company's WeChat estate."""

__version__ = "0.1.0"
