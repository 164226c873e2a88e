"""Labelloop's tooling, above the services: the ``labelloop`` command (:mod:`labelloop_tools.cli`),
the demo (:mod:`labelloop_tools.demo`) and the embedded local stack (:mod:`labelloop_tools.local`).

It imports the shared library ``labelloop`` and, of a service, only what that service declares
public for it (``labelloop_<service>.for_tools``); nothing imports this package.
"""
