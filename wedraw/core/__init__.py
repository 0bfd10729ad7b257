"""Shared building blocks used by every WeDraw service: factory, config, auth, errors, logs."""
