"""The sizes of a benchmark run: the full one (about 10 minutes) and `--quick` (under 2)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Config:
    """The sizes of a run. `QUICK` is the two-minute version."""

    messages: int = 20_000  # generated; the full-load phases send them all
    limit_sample: int = 3_072  # texts per batch size in the limit's sweep
    limit_batches: tuple[int, ...] = (1, 16, 64, 256, 1024)
    half_load_messages: int = 5_000
    baseline_messages: int = 4_000
    warmup: int = 300
    batch_max: int = 256  # the worker configuration under test (default: Settings)
    within_s: float = 0.05
    torch_threads: int = 1
    sweep_batches: tuple[int, ...] = (16, 64, 256, 1024)
    sweep_within_s: tuple[float, ...] = (0.01, 0.05, 0.2)
    sweep_messages: int = 4_000
    sweep_half_load_messages: int = 2_000
    accurate_sample: int = 512  # texts per batch size in the accurate tier's limit
    accurate_batches: tuple[int, ...] = (16, 64)
    accurate_messages: int = 1_500  # the accurate tier's end-to-end phase
    seed: int = 1


QUICK = Config(
    messages=2_000,
    limit_sample=512,
    limit_batches=(1, 64, 256),
    half_load_messages=600,
    baseline_messages=300,
    warmup=60,
    sweep_batches=(32, 256),
    sweep_within_s=(0.05,),
    sweep_messages=1_000,
    sweep_half_load_messages=400,
    accurate_sample=128,
    accurate_batches=(32,),
    accurate_messages=200,
)
