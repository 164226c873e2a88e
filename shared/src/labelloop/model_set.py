"""The model set: the three models inference serves, trained, versioned and promoted together.

A set shares one version number, so inference never pairs a ``pose_main`` with a
``pose_visible`` of another round. Everything that names the models takes them from here.
"""

from __future__ import annotations

from typing import Literal, get_args

ModelName = Literal["pose_main", "pose_visible", "head"]
MODEL_SET: tuple[ModelName, ...] = get_args(ModelName)
"""``pose_main`` (every labeled point), ``pose_visible`` (visible points only), ``head`` (head boxes)."""
