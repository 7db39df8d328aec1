"""The limit: the default NLP pipeline alone, over texts in memory, no Kafka, no Faust.

`enricher.enrich(batch)` is timed over all texts for each batch size; the best batch size
gives the docs/s that no worker on this machine can beat with the same model and threads.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from stream.processing import Enricher


@dataclass
class LimitResult:
    """Docs/s of the pipeline per batch size (on a sample), and over all texts at the best."""

    by_batch: dict[int, float]
    best_batch: int
    docs_per_s: float
    cpu_ms_per_doc: float  # CPU time per doc (all threads) at the best batch size
    torch_threads: int
    by_threads: dict[int, float]  # docs/s on the sample at the best batch, per TORCH_THREADS


def measure_limit(
    enricher: Enricher,
    texts: Sequence[str],
    sample: int,
    batch_sizes: Sequence[int],
    *,
    torch_threads: int = 1,
    other_threads: Sequence[int] = (),
    log: Callable[[str], None] = print,
) -> LimitResult:
    """Sweep the batch sizes over the first `sample` texts, then time all texts at the best.

    Then the sample again at the best batch size with each of `other_threads` torch threads.
    """
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(torch_threads)
    try:
        enricher.enrich(list(texts[:256]))  # warm-up: lazy initialisation, caches
        by_batch = {}
        for size in batch_sizes:
            by_batch[size] = round(docs_per_s(enricher, texts[:sample], size), 1)
            log(f"  batch {size:>5}: {by_batch[size]:.0f} docs/s ({sample} texts)")
        best = max(by_batch, key=by_batch.__getitem__)
        cpu_started = time.process_time()
        rate = round(docs_per_s(enricher, texts, best), 1)
        cpu_ms = round((time.process_time() - cpu_started) * 1000 / len(texts), 3)
        log(f"  batch {best:>5}: {rate:.0f} docs/s, {cpu_ms:.2f} CPU ms/doc ({len(texts)} texts)")
        by_threads = {torch_threads: by_batch[best]}
        for threads in other_threads:
            torch.set_num_threads(threads)
            by_threads[threads] = round(docs_per_s(enricher, texts[:sample], best), 1)
            log(f"  batch {best:>5}: {by_threads[threads]:.0f} docs/s with TORCH_THREADS={threads}")
        return LimitResult(by_batch, best, rate, cpu_ms, torch_threads, by_threads)
    finally:
        torch.set_num_threads(previous)


def docs_per_s(enricher: Enricher, texts: Sequence[str], batch_size: int) -> float:
    """Throughput of `enricher.enrich` over `texts`, in batches of `batch_size`."""
    started = time.perf_counter()
    for start in range(0, len(texts), batch_size):
        enricher.enrich(texts[start : start + batch_size])
    return len(texts) / (time.perf_counter() - started)
