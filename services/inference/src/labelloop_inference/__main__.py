"""``python -m labelloop_inference``: run the inference worker until SIGTERM."""

from labelloop_inference.entrypoint import main

main()
