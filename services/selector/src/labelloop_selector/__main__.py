"""``python -m labelloop_selector``: run the selector worker until SIGTERM."""

from labelloop_selector.entrypoint import main

main()
