"""Labelloop gt-bridge service: Streaming labeling jobs in the Ground Truth protocol."""
