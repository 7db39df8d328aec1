"""stream/kafka.py helpers whose timing a real broker rarely exposes."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from stream.kafka import wait_for_leaders

NOT_LEADER = 6


class AdminStub:
    """A just-created topic as brokers show it: unknown, then leaderless, then with a
    leader that refuses offset requests once, then ready."""

    def __init__(self) -> None:
        self.describes = 0
        self.offset_requests = 0
        self._client = self  # stream.client_internals asks the admin's own client for offsets

    async def describe_topics(self, topics: list[str]) -> list[dict]:
        self.describes += 1
        if self.describes == 1:
            return [{"error_code": 3, "topic": t, "partitions": []} for t in topics]
        leader = -1 if self.describes == 2 else 1
        partitions = [{"error_code": 0, "partition": p, "leader": leader} for p in range(2)]
        return [{"error_code": 0, "topic": t, "partitions": partitions} for t in topics]

    async def send(self, node: int, request: object) -> SimpleNamespace:
        self.offset_requests += 1
        error = NOT_LEADER if self.offset_requests == 1 else 0
        parts = [(p, error, -1, 0) for p in range(2)]
        return SimpleNamespace(topics=[("a", parts), ("b", parts)])


def _wait(admin: AdminStub, topics: list[str], seconds: float) -> bool:
    return asyncio.run(wait_for_leaders(admin, topics, timeout_s=seconds))  # type: ignore[arg-type]


def test_wait_for_leaders_polls_until_leaders_serve_offsets() -> None:
    admin = AdminStub()
    assert _wait(admin, ["a", "b"], 10)
    assert admin.describes == 4  # unknown, leaderless, not serving yet, ready
    assert admin.offset_requests == 2


def test_wait_for_leaders_gives_up_at_the_deadline() -> None:
    class NeverReady(AdminStub):
        async def describe_topics(self, topics: list[str]) -> list[dict]:
            self.describes += 1
            return [{"error_code": 3, "topic": t, "partitions": []} for t in topics]

    admin = NeverReady()
    assert not _wait(admin, ["a"], 0.3)
    assert 2 <= admin.describes <= 6 and admin.offset_requests == 0
