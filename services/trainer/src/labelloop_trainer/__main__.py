"""``python -m labelloop_trainer``: run the trainer worker until SIGTERM."""

from labelloop_trainer.entrypoint import main

main()
