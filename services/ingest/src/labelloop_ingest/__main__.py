"""``python -m labelloop_ingest``: run the ingest worker until SIGTERM."""

from labelloop_ingest.entrypoint import main

main()
