"""Labelloop ingest service: Frames from S3 clips and images (decoding lands with its own issue)."""
