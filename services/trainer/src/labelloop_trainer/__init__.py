"""Labelloop trainer service: Retraining, evaluation, registry and promotion."""
