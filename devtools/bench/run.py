"""`feedback bench`: every measurement in one run, on one machine, model and message set.

Order: generate the messages; the NLP limit in memory (before any broker or worker
competes for the CPU); start a private broker (unless `--bootstrap`); then the Kafka
phases, each on fresh topics with its own consumer group and worker processes:

    e2e        1 batched worker, 2 partitions: full load, then half of that rate
    scale      2 batched workers on 2 partitions: full load
    baseline   1 per-message worker (baseline.py): full load
    sweep      1 batched worker per (BATCH_MAX, BATCH_WITHIN_S): full load and half load
    accurate   1 batched worker with SENTIMENT_MODEL=accurate: full load (when the store
               holds an accurate-tier model; its limit is measured beside the fast one's)

and finally the table, the JSON and the PNG (report.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

from devtools.bench import report
from devtools.bench.config import QUICK, Config
from devtools.bench.e2e import Context, Load, Phase, PhaseResult, run_phase
from devtools.bench.limit import LimitResult, measure_limit
from devtools.bench.messages import generate
from devtools.bench.report import Results
from devtools.bench.workers import BASELINE
from stream.settings import Settings


def run_bench(
    config: Config,
    *,
    bootstrap: str | None = None,
    log: Callable[[str], None] = print,
    keep_workdir: bool = False,
) -> Results:
    """Run every phase; start and stop a private broker unless `bootstrap` is given."""
    started = time.monotonic()
    settings = Settings()
    workdir = Path(tempfile.mkdtemp(prefix="feedback-bench-"))
    try:
        version = _ensure_model(settings, log)
        records = generate(config.messages, seed=config.seed)
        texts = [r["text"] for r in records]
        log(f"▶ {len(records)} generated messages, model {version}")
        results = Results(config, version, _limit(settings, texts, config, log))
        results.model_dir = settings.model_dir
        accurate = _accurate_version(settings, log)
        if accurate:
            results.accurate_version = accurate
            results.accurate_limit = _limit(
                settings,
                texts[: config.accurate_sample * 2],
                replace(
                    config,
                    limit_sample=config.accurate_sample,
                    limit_batches=config.accurate_batches,
                ),
                log,
                tier="accurate",
            )
        with _brokers(bootstrap, workdir, log) as (servers, broker_pids):
            ctx = Context(
                settings.model_copy(update={"kafka_bootstrap_servers": servers}),
                settings.model_dir,
                workdir,
                log,
                helper_pids=broker_pids,
            )
            for phase in kafka_phases(config):
                results.phases[phase.name] = _run_phase(ctx, phase, records)
            e2e = results.phases["e2e"]
            for phase in sweep_phases(config, e2e.loads["full-load"].msgs_per_s / 2):
                if (phase.batch_max, phase.within_s) == (config.batch_max, config.within_s):
                    results.sweep.append(e2e)  # the e2e phase measured this point already
                else:
                    results.sweep.append(_run_phase(ctx, phase, records))
            if accurate:
                results.phases["accurate"] = _run_phase(ctx, accurate_phase(config), records)
        results.seconds = round(time.monotonic() - started, 1)
        return results
    finally:
        if keep_workdir:
            log(f"  worker logs kept in {workdir}/logs")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def kafka_phases(config: Config) -> list[Phase]:
    """The end-to-end phases, in order: e2e (full, half), two workers, per-message baseline."""
    worker = Phase(
        "e2e",
        loads=(),
        batch_max=config.batch_max,
        within_s=config.within_s,
        torch_threads=config.torch_threads,
        warmup=config.warmup,
    )
    full = Load("full-load", config.messages)
    half = Load(
        "half-load",
        config.half_load_messages,
        rate=lambda done: done["full-load"].msgs_per_s / 2,
    )
    return [
        replace(worker, loads=(full, half)),
        replace(worker, name="scale", workers=2, loads=(full,)),
        replace(
            worker,
            name="baseline",
            command=BASELINE,
            loads=(Load("full-load", config.baseline_messages),),
        ),
    ]


def accurate_phase(config: Config) -> Phase:
    """One batched worker serving the accurate tier, at full load."""
    return Phase(
        "accurate",
        loads=(Load("full-load", config.accurate_messages),),
        batch_max=config.batch_max,
        within_s=config.within_s,
        torch_threads=config.torch_threads,
        warmup=min(config.warmup, 100),
        env=(("SENTIMENT_MODEL", "accurate"),),
    )


def sweep_phases(config: Config, half_load_rate: float) -> list[Phase]:
    """One batched worker per (BATCH_MAX, BATCH_WITHIN_S): full load, then `half_load_rate`."""
    loads = (
        Load("full-load", config.sweep_messages),
        Load("half-load", config.sweep_half_load_messages, rate=half_load_rate),
    )
    return [
        Phase(
            f"sweep-b{batch}-w{within}",
            loads=loads,
            batch_max=batch,
            within_s=within,
            torch_threads=config.torch_threads,
            warmup=config.warmup,
        )
        for within in config.sweep_within_s
        for batch in config.sweep_batches
    ]


def main(
    quick: bool,
    output: Path,
    plot: Path | None,
    bootstrap: str | None,
    messages: int | None = None,
    keep_workdir: bool = False,
) -> int:
    """The CLI's entry point: run, print the table, write the JSON and the PNG."""
    settings = Settings()
    config = replace(
        QUICK if quick else Config(),
        batch_max=settings.batch_max,
        within_s=settings.batch_within_s,
        torch_threads=settings.torch_threads,
    )
    if messages:
        config = replace(config, messages=messages)
    results = run_bench(config, bootstrap=bootstrap, log=_timed_log(), keep_workdir=keep_workdir)
    summary = report.summarize(results)
    print(report.table(results, summary))
    report.write_json(summary, output)
    plot = plot or output.with_suffix(".png")
    report.plot(results, plot)
    print(f"\nwrote {output} and {plot} ({results.seconds:.0f} s)")
    return 0


# --- helpers ------------------------------------------------------------------------------------


def _run_phase(ctx: Context, phase: Phase, records: list[dict]) -> PhaseResult:
    """Run a phase; once more (on fresh topics) if a worker died or it timed out."""
    try:
        return asyncio.run(run_phase(ctx, phase, records))
    except (RuntimeError, TimeoutError) as exc:
        ctx.log(f"  ! {phase.name} failed ({exc}); running it again")
        return asyncio.run(run_phase(ctx, phase, records))


def _ensure_model(settings: Settings, log: Callable[[str], None]) -> str:
    from nlp import ensure_default_model

    log("▶ checking the default model (trained on first use, then cached) ...")
    return ensure_default_model(settings.model_dir)


def _accurate_version(settings: Settings, log: Callable[[str], None]) -> str | None:
    """The accurate-tier model the worker would serve, if the store holds one."""
    from nlp import ModelStore

    store = ModelStore(settings.model_dir)
    if not store.versions("accurate"):
        log("▶ no accurate-tier model in the store: `feedback train --tier accurate` adds one")
        return None
    return store.resolve(None, "accurate")


def _limit(
    settings: Settings,
    texts: list[str],
    config: Config,
    log: Callable[[str], None],
    tier: str = "fast",
) -> LimitResult:
    """The NLP pipeline alone, in this process, before any broker or worker runs."""
    from nlp import load_enricher

    enricher = load_enricher(settings.model_dir, torch_threads=config.torch_threads, tier=tier)
    log(f"▶ limit: the NLP pipeline alone, {tier} tier (TORCH_THREADS={config.torch_threads})")
    return measure_limit(
        enricher,
        texts,
        config.limit_sample,
        config.limit_batches,
        torch_threads=config.torch_threads,
        other_threads=[n for n in {1, cpu_count()} if n != config.torch_threads],
        log=log,
    )


@contextlib.contextmanager
def _brokers(
    bootstrap: str | None, workdir: Path, log: Callable[[str], None]
) -> Iterator[tuple[str, tuple[int, ...]]]:
    """The brokers to use and the pids of ours: `bootstrap`, else a private broker for the
    duration, in a feedback home of its own under `workdir`."""
    if bootstrap:
        log(f"▶ using the Kafka brokers at {bootstrap}")
        yield bootstrap, ()
        return
    from devtools import broker
    from devtools.net import free_port

    with broker.serving(free_port(), home=workdir / "broker", say=log) as started:
        yield started.bootstrap, (started.pid,) if started.pid else ()


def cpu_count() -> int:
    """CPUs this process may use."""
    return len(os.sched_getaffinity(0))


def _timed_log() -> Callable[[str], None]:
    """`print`, with the time since the start in front of each phase's first line."""
    started = time.monotonic()

    def log(line: str) -> None:
        elapsed = time.monotonic() - started
        prefix = (
            f"[{elapsed // 60:02.0f}:{elapsed % 60:02.0f}] " if line.startswith("▶") else "        "
        )
        print(prefix + line, flush=True)

    return log
