"""Labelloop ingest service: clips and images from S3 to sampled JPEG frames and FramesExtracted events."""
