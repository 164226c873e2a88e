"""``python -m labelloop_tools.local.moto_main``: moto's server, lighter per request.

Two costs of moto's server that our traffic (many small DynamoDB, SQS and SNS calls) pays on
every request, measured with py-spy while a clip went through the pipeline
(benchmarks/real_models.py), and taken from Triton on a two-core machine:

* werkzeug's access log, a line formatted and flushed per request: a sixth of the emulator's
  CPU. Warnings and errors (a request that raised) still reach the log; werkzeug's start-up
  banner, an info line, does not.
* the dispatcher lists moto's package folder (``os.listdir`` and an ``isdir`` per service) for
  every request to find the service a host names: an eighth. The installed services do not
  change while the server runs, so the list is read once.
"""

from __future__ import annotations

import functools
import logging

from moto import backends
from moto.server import main

_list_installed_services = backends.list_of_moto_modules


@functools.cache
def _installed_services() -> tuple[str, ...]:
    return tuple(_list_installed_services())


if __name__ == "__main__":
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    backends.list_of_moto_modules = _installed_services
    main()
