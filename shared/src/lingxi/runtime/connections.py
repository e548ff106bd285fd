"""Redis connections that pack commands with hiredis.

redis-py's synchronous client packs commands with hiredis's C packer when hiredis is installed
(``redis.connection.HiredisRespSerializer``); its asyncio client always packs them in Python. That costs
about 3.5 µs per packed state: the maintenance service's write of 100 devices (~300 arguments, most of
them a few hundred bytes) packs in 350 µs in Python against 70 µs with hiredis, a sixteenth of the
service's time a reading. The bytes sent are the same (the shared tests compare them).

``packing_connection_class(url)`` is the asyncio connection class redis-py would pick for ``url``'s scheme
(TCP, TLS or a Unix socket), packing with hiredis; the service's own pool and the broker's both use it.
"""

from __future__ import annotations

from urllib.parse import urlparse

import hiredis
from redis.asyncio.connection import (
    AbstractConnection,
    Connection,
    SSLConnection,
    UnixDomainSocketConnection,
)
from redis.connection import HiredisRespSerializer
from redis.typing import EncodableT
from redis.utils import HIREDIS_AVAILABLE

__all__ = [
    "HiredisPackingConnection",
    "HiredisPackingSSLConnection",
    "HiredisPackingUnixDomainSocketConnection",
    "packing_connection_class",
]

_PACKER = HiredisRespSerializer()  # stateless


class _HiredisPacking:
    def pack_command(self, *args: EncodableT) -> list[bytes]:
        # What redis-py's HiredisRespSerializer does, less its pass over every argument to turn byte
        # arrays into bytes (a tenth of packing a write of thousands of arguments): hiredis refuses a
        # bytearray with TypeError, and then redis-py's own packer converts it (or raises DataError).
        first = args[0]
        if isinstance(first, str):
            args = (*first.encode().split(), *args[1:])
        elif isinstance(first, bytes) and b" " in first:
            args = (*first.split(), *args[1:])
        try:
            return [hiredis.pack_command(args)]  # type: ignore[arg-type]  # its stub types a 1-tuple
        except TypeError:
            # redis-py annotates the arguments as lists and returns no type; they are a command's arguments.
            return _PACKER.pack(*args)  # type: ignore[arg-type,no-any-return]


class HiredisPackingConnection(_HiredisPacking, Connection):
    """A TCP connection (``redis://``)."""


class HiredisPackingSSLConnection(_HiredisPacking, SSLConnection):
    """A TLS connection (``rediss://``)."""


class HiredisPackingUnixDomainSocketConnection(_HiredisPacking, UnixDomainSocketConnection):
    """A Unix socket connection (``unix://``)."""


_BY_SCHEME: dict[str, tuple[type[AbstractConnection], type[AbstractConnection]]] = {
    "redis": (Connection, HiredisPackingConnection),
    "rediss": (SSLConnection, HiredisPackingSSLConnection),
    "unix": (UnixDomainSocketConnection, HiredisPackingUnixDomainSocketConnection),
}


def packing_connection_class(url: str) -> type[AbstractConnection]:
    """The asyncio connection class for ``url``'s scheme, packing with hiredis (redis-py's own class when
    hiredis is not installed). ValueError names a scheme redis-py does not connect with."""
    scheme = urlparse(url).scheme
    classes = _BY_SCHEME.get(scheme)
    if classes is None:
        raise ValueError(f"Redis URL scheme {scheme!r} is not one of {', '.join(sorted(_BY_SCHEME))}")
    plain, packing = classes
    return packing if HIREDIS_AVAILABLE else plain
