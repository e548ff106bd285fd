"""Service runtime: broker and app factory, subscription helper, middlewares, probes, settings."""

from lingxi.runtime.delivery import HandledMark
from lingxi.runtime.serve import serve
from lingxi.runtime.service import HandlerContext, Service
from lingxi.runtime.settings import ServiceSettings

__all__ = ["HandledMark", "HandlerContext", "Service", "ServiceSettings", "serve"]
