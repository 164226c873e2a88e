"""``python -m labelloop`` is the ``labelloop`` command."""

from labelloop.cli import main

main()
