"""Labelloop selector service: The judgement function: auto-accept or send to humans."""
