"""`feedback enrich`: the worker's processing over a JSONL file, for backfills and evaluation."""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from tqdm import tqdm

from stream.contracts import Source
from stream.processing import Enricher, Limits, Message, process_batch


@dataclass
class Summary:
    """What an offline run did."""

    enriched: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def lines(self) -> int:
        return self.enriched + sum(self.rejected.values())


def enrich_file(
    input_path: Path,
    output: Path,
    enricher: Enricher,
    limits: Limits,
    *,
    batch_size: int = 256,
    dead_letters: Path | None = None,
    progress: bool = True,
    report: TextIO = sys.stderr,
) -> Summary:
    """Enrich every line of `input_path` into `output`; bad lines are reported and skipped."""
    summary = Summary()
    started = time.perf_counter()
    total = input_path.stat().st_size
    with (
        input_path.open("rb") as lines,
        output.open("wb") as out,
        dead_letters.open("wb") if dead_letters else nullcontext() as dlq,
        tqdm(total=total, unit="B", unit_scale=True, disable=not progress, desc="enrich") as bar,
    ):
        for batch in _batches(lines, str(input_path), batch_size, bar):
            for message, outcome in zip(batch, process_batch(batch, enricher, limits), strict=True):
                if outcome.dead:
                    summary.rejected[str(outcome.reason)] += 1
                    detail = outcome.record["detail"] if outcome.record else ""
                    print(
                        f"line {message.source.offset + 1}: {outcome.reason}: {detail}", file=report
                    )
                    if dlq:
                        dlq.write(outcome.value + b"\n")
                else:
                    summary.enriched += 1
                    out.write(outcome.value + b"\n")
    summary.seconds = time.perf_counter() - started
    return summary


def _batches(lines, name: str, size: int, bar: tqdm) -> Iterator[list[Message]]:
    batch: list[Message] = []
    for number, line in enumerate(lines):
        bar.update(len(line))
        value = line.rstrip(b"\r\n")
        if not value.strip():
            continue  # blank lines are not records
        batch.append(Message(key=None, value=value, source=Source(name, 0, number)))
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
