"""``python -m labelloop_tools`` is the ``labelloop`` command."""

from labelloop_tools.cli import main

main()
