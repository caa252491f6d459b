"""What the broker holds: the ids carried by every message in a queue or in a worker's hands.

The reconciler compares them with the books waiting for a message, so a message lost from Redis
(FLUSHALL, a restart without persistence) is noticed in seconds rather than after the stale
threshold. Kombu's Redis transport keeps a queue as a list of JSON envelopes and the messages
workers hold (prefetched, running, waiting for a retry's countdown) in the `unacked` hash.
"""
from __future__ import annotations

import base64
import json
import logging

import redis

from shared.jobs import Queue

log = logging.getLogger(__name__)

# Kombu puts messages with a priority in lists named queue + "\x06\x16" + priority.
_PRIORITY_SEPARATOR = "\x06\x16"
UNACKED = "unacked"


def _first_arg(envelope: dict) -> str | None:
    body = envelope.get("body")
    if envelope.get("properties", {}).get("body_encoding") == "base64":
        body = base64.b64decode(body)
    args = json.loads(body)[0]
    return str(args[0]) if args else None


def queued_ids(redis_url: str, timeout_s: float = 3.0) -> set[str] | None:
    """The first argument (a book or email request id) of every message; None when Redis cannot be read."""
    client = redis.Redis.from_url(redis_url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
    raw: list[bytes] = []
    try:
        for queue in Queue:
            for key in client.scan_iter(match=f"{queue.value}*", count=100):
                name = key.decode(errors="replace")
                if name == queue.value or name.startswith(queue.value + _PRIORITY_SEPARATOR):
                    raw.extend(client.lrange(key, 0, -1))
        held = [json.loads(value)[0] for value in client.hvals(UNACKED)]
    except (redis.RedisError, OSError) as exc:
        log.info("cannot read the broker's queues: %s", exc)
        return None
    finally:
        client.close()
    ids: set[str] = set()
    for envelope in [*(json.loads(value) for value in raw), *held]:
        try:
            first = _first_arg(envelope)
        except (ValueError, KeyError, IndexError, TypeError):
            continue
        if first is not None:
            ids.add(first)
    return ids
