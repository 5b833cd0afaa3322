"""Trajectory formats: the :class:`TrajectoryFormat` protocol and streaming, auto-detecting reading.

The built-in formats (``openai``, ``sharegpt`` with Hermes-style rows, ``nemo-gym``) live in their
own modules and are registered by ``pivotrl_core.default_plugins.formats`` through the same hook as
third-party ones. Inputs are JSONL (``.gz`` too), Parquet or ``datasets`` folders (:mod:`.tables`).
"""

from __future__ import annotations

from .base import TrajectoryFormat
from .detect import BUILTIN_FORMATS, ReadStats, detect_format, read_trajectories

__all__ = ["BUILTIN_FORMATS", "ReadStats", "TrajectoryFormat", "detect_format", "read_trajectories"]
