"""Labelloop inference service: Pose, visibility and head predictions through Triton."""
