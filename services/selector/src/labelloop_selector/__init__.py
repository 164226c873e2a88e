"""Labelloop selector service: the judgement function that auto-accepts predictions or sends frames to people."""
