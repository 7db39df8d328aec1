"""The limit: the default NLP pipeline alone, over texts in memory, no Kafka, no Faust.

`enricher.enrich(batch)` is timed per batch size on a sample, then over all texts at the
best size: the docs/s that no worker on this machine can beat with the same model and
threads. The sample's configurations take turns chunk by chunk, so that other load on a
shared machine, which comes and goes, weighs on all of them alike.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from devtools.bench.cpu import machine_busy_seconds
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
    others_cpu_cores: float  # CPUs other processes kept busy during the run over all texts


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

    Then the sample again at the best batch size, taking turns with each of
    `other_threads` torch threads.
    """
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(torch_threads)
    try:
        enricher.enrich(list(texts[:256]))  # warm-up: lazy initialisation, caches
        part = texts[:sample]
        swept = interleaved_docs_per_s(enricher, part, [(b, torch_threads) for b in batch_sizes])
        by_batch = {batch: rate for (batch, _), rate in swept.items()}
        for batch, rate in by_batch.items():
            log(f"  batch {batch:>5}: {rate:.0f} docs/s ({len(part)} texts)")
        best = max(by_batch, key=by_batch.__getitem__)

        cpu_started, machine_started = time.process_time(), machine_busy_seconds()
        rate = round(docs_per_s(enricher, texts, best), 1)
        cpu_s = time.process_time() - cpu_started
        others = (machine_busy_seconds() - machine_started - cpu_s) * rate / len(texts)
        cpu_ms = round(cpu_s * 1000 / len(texts), 3)
        log(f"  batch {best:>5}: {rate:.0f} docs/s, {cpu_ms:.2f} CPU ms/doc ({len(texts)} texts)")

        by_threads = {torch_threads: by_batch[best]}
        if other_threads:
            configs = [(best, n) for n in (torch_threads, *other_threads)]
            by_threads = {
                n: r for (_, n), r in interleaved_docs_per_s(enricher, part, configs).items()
            }
            for n, r in by_threads.items():
                log(f"  batch {best:>5}: {r:.0f} docs/s with TORCH_THREADS={n} ({len(part)} texts)")
        return LimitResult(
            by_batch, best, rate, cpu_ms, torch_threads, by_threads, round(max(0.0, others), 2)
        )
    finally:
        torch.set_num_threads(previous)


def interleaved_docs_per_s(
    enricher: Enricher, texts: Sequence[str], configs: Sequence[tuple[int, int]]
) -> dict[tuple[int, int], float]:
    """Docs/s per (batch size, torch threads), the configurations taking turns per chunk."""
    import torch

    chunk = max(batch for batch, _ in configs)
    elapsed = dict.fromkeys(configs, 0.0)
    for start in range(0, len(texts), chunk):
        part = texts[start : start + chunk]
        for batch, threads in configs:
            torch.set_num_threads(threads)
            elapsed[batch, threads] += len(part) / docs_per_s(enricher, part, batch)
    return {config: round(len(texts) / seconds, 1) for config, seconds in elapsed.items()}


def docs_per_s(enricher: Enricher, texts: Sequence[str], batch_size: int) -> float:
    """Throughput of `enricher.enrich` over `texts`, in batches of `batch_size`."""
    started = time.perf_counter()
    for start in range(0, len(texts), batch_size):
        enricher.enrich(texts[start : start + batch_size])
    return len(texts) / (time.perf_counter() - started)
