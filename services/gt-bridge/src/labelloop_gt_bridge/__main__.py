"""``python -m labelloop_gt_bridge``: run the gt-bridge worker until SIGTERM."""

from labelloop_gt_bridge.entrypoint import main

main()
