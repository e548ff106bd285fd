"""Service runtime: broker and app factory, subscription helper, middlewares, probes, settings."""

from lingxi.runtime.serve import serve
from lingxi.runtime.service import HandlerContext, Service
from lingxi.runtime.settings import ServiceSettings

__all__ = ["HandlerContext", "Service", "ServiceSettings", "serve"]
