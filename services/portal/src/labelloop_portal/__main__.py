"""``python -m labelloop_portal``: run the portal until SIGTERM."""

from labelloop_portal.entrypoint import main

main()
