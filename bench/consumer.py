"""A Lingxi consumer for the benchmarks: the real ``Service`` runtime (reader + reclaimer, validation,
deduplication, commit with the acknowledgement, logging, metrics) under uvicorn like every service,
with a no-op or CPU-heavy handler on ``QueryReceived``.

    python -m bench.consumer [--service NAME] [--burn ITERATIONS] [--batch]

Settings come from LINGXI_* like any service (LINGXI_REPLICA, LINGXI_MAX_RECORDS, ...).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from lingxi.events import QueryReceived
from lingxi.runtime import HandlerContext, Service, serve

from bench.common import burn


def build(name: str, iterations: int, batch: bool) -> Service:
    service = Service(name)
    if batch:

        async def on_batch(events: Sequence[QueryReceived], ctx: HandlerContext) -> None:
            if iterations:
                for _ in events:
                    burn(iterations)

        service.consumer(QueryReceived, batch=True)(on_batch)
    else:

        async def on_event(event: QueryReceived, ctx: HandlerContext) -> None:
            if iterations:
                burn(iterations)

        service.consumer(QueryReceived)(on_event)
    return service


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.consumer")
    parser.add_argument("--service", default="bench-consumer", help="service name = consumer group")
    parser.add_argument("--burn", type=int, default=0, help="iterations of pure-Python work per event")
    parser.add_argument("--batch", action="store_true", help="batch handler (batch=True)")
    args = parser.parse_args()
    service = build(args.service, args.burn, args.batch)
    serve(service.asgi(), service)


if __name__ == "__main__":
    main()
