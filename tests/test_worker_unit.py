"""The Faust agent without a broker (Faust's test_context)."""

from __future__ import annotations

import asyncio
import contextlib

import orjson

from stream.app import create_app
from stream.settings import Settings
from tests.fakes import KeywordEnricher


async def test_agent_takes_batches_and_publishes_output_and_dead_letters(tmp_path) -> None:
    enricher = KeywordEnricher()
    settings = Settings(feedback_home=tmp_path, batch_max=10, batch_within_s=0.2)
    worker = create_app(settings, enricher)
    app = worker.app
    app.finalize()
    app.conf.store = "memory://"
    agent = app.agents["enrich"]
    sent: list[tuple[str, bytes]] = []

    async def capture(topic, key=None, value=None, **kwargs):
        sent.append((topic.get_topic_name(), value))
        future = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future

    job = worker.job
    job.output.send = lambda **kw: capture(job.output, **kw)
    job.dlq.send = lambda **kw: capture(job.dlq, **kw)

    async with agent.test_context() as ctx:
        values = [orjson.dumps({"id": i, "text": "good" if i % 2 else "bad"}) for i in range(25)]
        values.append(b"not json")
        for value in values:
            await ctx.put(value=value, wait=False)
        for _ in range(100):
            if len(sent) == len(values):
                break
            await asyncio.sleep(0.05)

    assert len(sent) == len(values)
    outputs = [orjson.loads(v) for t, v in sent if t == "feedback.enriched"]
    dead = [orjson.loads(v) for t, v in sent if t == "feedback.dlq"]
    assert sorted(r["id"] for r in outputs) == list(range(25))
    assert [d["reason"] for d in dead] == ["invalid_json"]
    assert max(enricher.calls) > 1, "the agent should take batches, not single messages"
    assert all(n <= 10 for n in enricher.calls)


async def test_a_crash_of_the_agent_is_counted_reported_and_stops_the_worker(
    tmp_path, monkeypatch
) -> None:
    def broken_processing(messages, enricher, limits):
        raise RuntimeError("a bug outside the per-message isolation")

    monkeypatch.setattr("stream.app.process_batch", broken_processing)
    worker = create_app(Settings(feedback_home=tmp_path, batch_within_s=0.05), KeywordEnricher())
    app = worker.app
    app.finalize()
    app.conf.store = "memory://"
    job = worker.job
    stops: list[bool] = []
    job.stop_worker = lambda: stops.append(True)
    assert job.ops.health()[0] and job.ops.readiness()[1]["checks"]["agent_running"]

    with contextlib.suppress(RuntimeError):
        async with app.agents["enrich"].test_context() as ctx:
            event = await ctx.put(value=orjson.dumps({"id": 1, "text": "good"}), wait=False)
            for _ in range(100):
                if stops:
                    break
                await asyncio.sleep(0.05)

    assert stops == [True], "the worker is asked to stop"
    assert isinstance(job.crash, RuntimeError)
    assert job.ops.metrics.value("feedback_agent_crashes_total") == 1
    healthy, body = job.ops.health()
    assert not healthy and "a bug outside" in body["agent_crash"]
    ready, body = job.ops.readiness()
    assert not ready and body["checks"]["agent_running"] is False
    # Marked acked without being acknowledged to the consumer: its offset is never committed.
    assert event.message.acked
