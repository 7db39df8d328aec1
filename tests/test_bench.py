"""`feedback bench`: its message generator, and one tiny end-to-end phase on real Kafka.

No timing thresholds here: the benchmark measures, the tests only check that it runs
and reports what it promises.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from pathlib import Path

import orjson
import pytest

from devtools.bench import report
from devtools.bench.config import QUICK
from devtools.bench.e2e import Context, Load, Phase, run_phase
from devtools.bench.limit import measure_limit
from devtools.bench.messages import MAX_WORDS, MIN_WORDS, encode, generate, word_count
from devtools.bench.report import Results
from stream.contracts import parse_feedback
from stream.settings import Settings


def test_messages_have_5_to_60_words_and_variety() -> None:
    records = generate(5000, seed=3)
    counts = [word_count(r["text"]) for r in records]
    assert min(counts) >= MIN_WORDS and max(counts) <= MAX_WORDS
    assert sum(c < 12 for c in counts) > 500, "short feedback is common"
    assert sum(c > 40 for c in counts) > 100, "and some write a paragraph"
    assert len({r["text"] for r in records}) > 0.8 * len(records)
    assert len({r["id"] for r in records}) == len(records)
    assert len(Counter(r["channel"] for r in records)) >= 5
    assert set(Counter(r["rating"] for r in records)) == {1, 2, 3, 4, 5}
    first_words = Counter(r["text"].split()[0].lower() for r in records)
    assert len(first_words) >= 30


def test_messages_are_valid_input_and_deterministic() -> None:
    values = encode(generate(300, seed=5))
    for value in values:
        parse_feedback(value, max_text_chars=5000)
    assert values == encode(generate(300, seed=5))
    assert values != encode(generate(300, seed=6))


@pytest.mark.kafka
@pytest.mark.skipif(
    not os.environ.get("KAFKA_BOOTSTRAP_SERVERS"), reason="set KAFKA_BOOTSTRAP_SERVERS to a broker"
)
def test_tiny_end_to_end_phase_reports_every_key(model_store: Path, tmp_path: Path) -> None:
    from nlp import load_enricher

    bootstrap = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    records = generate(200, seed=2)
    limit = measure_limit(
        load_enricher(model_store, torch_threads=1),
        [r["text"] for r in records],
        sample=50,
        batch_sizes=(1, 16),
        log=lambda _line: None,
    )
    ctx = Context(Settings(kafka_bootstrap_servers=bootstrap), model_store, tmp_path)
    phase = Phase(
        "test",
        warmup=20,
        loads=(
            Load("full-load", 100),
            Load("half-load", 40, rate=lambda done: done["full-load"].msgs_per_s / 2),
        ),
    )
    result = asyncio.run(run_phase(ctx, phase, records))
    assert result.loads["full-load"].received == 100
    assert result.loads["half-load"].received == 40

    # The one phase stands in for every phase of a run: the report must hold together.
    results = Results(QUICK, "test", limit, {"e2e": result, "scale": result, "baseline": result})
    results.sweep = [result]
    summary = report.summarize(results)
    report.write_json(summary, tmp_path / "bench.json")
    report.plot(results, tmp_path / "bench.png")
    written = orjson.loads((tmp_path / "bench.json").read_bytes())
    for key in report.REQUIRED_KEYS:
        assert written[key] > 0, key
    assert (tmp_path / "bench.png").stat().st_size > 0
    assert "per-message baseline" in report.table(results, summary)
    assert written["tiers"]["fast"]["limit_docs_per_s"] == limit.docs_per_s
    assert "accurate" not in written["tiers"]  # no accurate-tier model was measured
