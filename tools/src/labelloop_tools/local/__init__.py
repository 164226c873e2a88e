"""The embedded local stack: an AWS emulator and the services as processes, no Docker needed."""

from labelloop_tools.local.moto import MotoServer, free_port
from labelloop_tools.local.stack import EmbeddedStack, StackState, service_module

__all__ = ["EmbeddedStack", "MotoServer", "StackState", "free_port", "service_module"]
