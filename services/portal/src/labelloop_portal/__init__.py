"""Labelloop portal: the self-hosted labeling backend speaking the Ground Truth streaming protocol."""
