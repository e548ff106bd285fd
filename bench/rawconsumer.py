"""The baseline consumer: a bare redis-py asyncio loop, nothing but XREADGROUP and XACK.

    python -m bench.rawconsumer --redis-url URL --group G --consumer C --count K --ack single|batch|validate

``single`` acknowledges each entry with its own XACK (one round trip per entry); ``batch``
acknowledges everything one read returned with one XACK; ``validate`` is ``batch`` plus decoding
each entry's envelope and validating it as a QueryReceived, the least work any consumer of typed
events does. It runs on uvloop where installed, as the services do under uvicorn.
"""

from __future__ import annotations

import argparse
from typing import Any

from lingxi.events import QueryReceived
from lingxi.runtime.envelope import decode_entry
from redis.asyncio import Redis

from bench.stats import run


async def consume(url: str, stream: str, group: str, consumer: str, count: int, ack: str) -> None:
    client = Redis.from_url(url)
    while True:
        reply: Any = await client.xreadgroup(group, consumer, {stream: ">"}, count=count, block=1000)
        for _stream, entries in reply or ():
            if ack == "single":
                for entry_id, _fields in entries:
                    await client.xack(stream, group, entry_id)
                continue
            if ack == "validate":
                for _entry_id, fields in entries:
                    QueryReceived.model_validate_json(decode_entry(fields)[0])
            if entries:
                await client.xack(stream, group, *(entry_id for entry_id, _fields in entries))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.rawconsumer")
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--stream", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--consumer", default="raw-1")
    parser.add_argument("--count", type=int, required=True, help="XREADGROUP COUNT")
    parser.add_argument("--ack", choices=["single", "batch", "validate"], required=True)
    args = parser.parse_args()
    run(consume(args.redis_url, args.stream, args.group, args.consumer, args.count, args.ack))


if __name__ == "__main__":
    main()
