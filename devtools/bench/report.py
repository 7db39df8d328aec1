"""The benchmark's outputs: the summary (JSON), the table, the goals and the PNG."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from devtools.bench.config import Config
    from devtools.bench.e2e import PhaseResult
    from devtools.bench.limit import LimitResult

#: name -> (comparison, target): what the worker is built to reach on one machine.
GOALS: dict[str, tuple[str, float]] = {
    "e2e_over_limit": (">=", 0.90),
    "batched_over_per_message": (">=", 5.0),
    "two_workers_over_one": (">=", 1.6),
    "p99_ms_half_load": ("<=", 250.0),
    "peak_rss_mb": ("<=", 1500.0),
}
REQUIRED_KEYS = (
    "limit_docs_per_s",
    "e2e_msgs_per_s",
    "e2e_over_limit",
    "batched_over_per_message",
    "two_workers_over_one",
    "p50_ms_half_load",
    "p99_ms_half_load",
    "peak_rss_mb",
)


@dataclass
class Results:
    """Everything measured, for the report."""

    config: Config
    model_version: str
    limit: LimitResult
    phases: dict[str, PhaseResult] = field(default_factory=dict)
    sweep: list[PhaseResult] = field(default_factory=list)
    seconds: float = 0.0
    accurate_version: str | None = None
    accurate_limit: LimitResult | None = None
    model_dir: Path | None = None  # where the model cards are (for the tiers' accuracy)


def summarize(results: Results) -> dict[str, Any]:
    """The JSON document: the required keys first, then the details behind them."""
    e2e = results.phases["e2e"]
    full, half = e2e.loads["full-load"], e2e.loads["half-load"]
    two = results.phases["scale"].loads["full-load"]
    baseline = results.phases["baseline"]
    batched = [e2e, results.phases["scale"], *results.sweep]
    summary: dict[str, Any] = {
        "limit_docs_per_s": results.limit.docs_per_s,
        "e2e_msgs_per_s": full.msgs_per_s,
        "e2e_over_limit": _ratio(full.msgs_per_s, results.limit.docs_per_s),
        "batched_over_per_message": _ratio(full.msgs_per_s, baseline.loads["full-load"].msgs_per_s),
        "two_workers_over_one": _ratio(two.msgs_per_s, full.msgs_per_s),
        "p50_ms_half_load": half.p50_ms,
        "p99_ms_half_load": half.p99_ms,
        "peak_rss_mb": round(max(rss for p in batched for rss in p.peak_rss_mb), 1),
    }
    # The same ratios in CPU time per message: what the machine's other load does not skew.
    summary["e2e_over_limit_cpu"] = _ratio(results.limit.cpu_ms_per_doc, full.worker_cpu_ms_per_msg)
    summary["batched_over_per_message_cpu"] = _ratio(
        baseline.loads["full-load"].worker_cpu_ms_per_msg, full.worker_cpu_ms_per_msg
    )
    summary["others_cpu_cores"] = {  # CPUs other processes used: how noisy the machine was
        "limit": results.limit.others_cpu_cores,
        **{
            f"{p.phase.name}/{name}": load.others_cpu_cores
            for p in [*results.phases.values(), *results.sweep]
            for name, load in p.loads.items()
        },
    }
    summary["goals"] = {
        name: {
            "target": f"{op} {target:g}",
            "value": summary[name],
            "met": _met(summary[name], op, target),
        }
        for name, (op, target) in GOALS.items()
    }
    summary["limit"] = {
        "best_batch": results.limit.best_batch,
        "cpu_ms_per_doc": results.limit.cpu_ms_per_doc,
        "others_cpu_cores": results.limit.others_cpu_cores,
        "docs_per_s_by_batch": results.limit.by_batch,
        "torch_threads": results.limit.torch_threads,
        "docs_per_s_by_torch_threads": results.limit.by_threads,
    }
    summary["phases"] = {name: _phase(p) for name, p in results.phases.items()}
    summary["sweep"] = [_phase(p) for p in results.sweep]
    summary["baseline_peak_rss_mb"] = round(max(baseline.peak_rss_mb), 1)
    summary["recommended"] = recommend(results, summary)
    summary["tiers"] = tiers(results)
    summary["run"] = {
        "model_version": results.model_version,
        "messages": results.config.messages,
        "config": {k: v for k, v in vars(results.config).items()},
        "cpus": len(os.sched_getaffinity(0)),
        "machine": platform.platform(),
        "python": platform.python_version(),
        "seconds": results.seconds,
    }
    return summary


def tiers(results: Results) -> dict[str, Any]:
    """Speed (this run) and accuracy (each model card's dev sets) of each sentiment tier."""
    rows = {"fast": (results.model_version, results.limit, results.phases.get("e2e"))}
    if results.accurate_version and results.accurate_limit:
        rows["accurate"] = (
            results.accurate_version,
            results.accurate_limit,
            results.phases.get("accurate"),
        )
    out = {}
    for tier, (version, limit, phase) in rows.items():
        metrics = _card_metrics(results.model_dir, version)
        out[tier] = {
            "model_version": version,
            "limit_docs_per_s": limit.docs_per_s,
            "limit_docs_per_s_by_torch_threads": limit.by_threads,
            "e2e_msgs_per_s": phase.loads["full-load"].msgs_per_s if phase else None,
            "peak_rss_mb": round(max(phase.peak_rss_mb), 1) if phase else None,
            "dev_sets": {
                name: {
                    "sentiment_accuracy": round(m["sentiment_accuracy"], 3),
                    "sentiment_macro_f1": round(m["sentiment_macro_f1"], 3),
                    "ece": round(m.get("calibration", {}).get("ece", float("nan")), 3),
                    "ner_precision": round(m["entities"]["micro"]["precision"], 3),
                    "ner_recall": round(m["entities"]["micro"]["recall"], 3),
                    "ner_f1": round(m["ner_f1"], 3),
                }
                for name, m in metrics.items()
                if name.startswith("dev")
            },
        }
    return out


def _card_metrics(model_dir: Path | None, version: str) -> dict[str, Any]:
    from nlp import ModelError, ModelStore

    if model_dir is None:
        return {}
    try:
        return ModelStore(model_dir).read_card(version).get("metrics", {})
    except ModelError:
        return {}


def recommend(results: Results, summary: dict[str, Any]) -> dict[str, Any]:
    """Defaults from what was measured.

    BATCH_MAX and BATCH_WITHIN_S: of the sweep points within 10% of the best full-load
    throughput (the margin is the machines' noise), the one with the lowest p99 at half
    load. Worker processes: one per CPU (memory permitting) when a second worker added at
    least half a worker's throughput, or, on a machine too busy to show it, when two
    workers spent no more than 15% more CPU per message than one. TORCH_THREADS: 1,
    unless a lone worker gains 15% from more threads.
    """
    best = max(p.loads["full-load"].msgs_per_s for p in results.sweep)
    near = [p for p in results.sweep if p.loads["full-load"].msgs_per_s >= 0.9 * best]
    pick = min(near, key=lambda p: p.loads["half-load"].p99_ms)
    cpus = len(os.sched_getaffinity(0))
    one = results.phases["e2e"].loads["full-load"].worker_cpu_ms_per_msg
    two = results.phases["scale"].loads["full-load"].worker_cpu_ms_per_msg
    memory_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20
    fit = max(1, int(0.5 * memory_mb // summary["peak_rss_mb"]))
    scales = summary["two_workers_over_one"] >= 1.5 or two <= 1.15 * one
    processes = min(cpus, fit) if scales else 1
    by_threads = results.limit.by_threads
    threads = max(by_threads, key=by_threads.__getitem__)
    if processes > 1 or by_threads[threads] < 1.15 * by_threads.get(1, by_threads[threads]):
        threads = 1
    return {
        "BATCH_MAX": pick.phase.batch_max,
        "BATCH_WITHIN_S": pick.phase.within_s,
        "TORCH_THREADS": threads,
        "worker_processes": processes,
        "min_topic_partitions": processes,  # one partition per worker at least
        "measured_at_this_point": {
            "msgs_per_s": pick.loads["full-load"].msgs_per_s,
            "p50_ms_half_load": pick.loads["half-load"].p50_ms,
            "p99_ms_half_load": pick.loads["half-load"].p99_ms,
        },
    }


def table(results: Results, summary: dict[str, Any]) -> str:
    """The human-readable report: one row per measurement, then the goals."""
    limit = results.limit
    rows = [
        ("measurement", "msgs", "msgs/s", "p50 ms", "p95 ms", "p99 ms", "CPU ms/msg", "RSS MB",
         "others' CPUs"),
        (f"limit: NLP alone, batch {limit.best_batch}", str(results.config.messages),
         f"{limit.docs_per_s:.0f}", "", "", "", f"{limit.cpu_ms_per_doc:.2f}", "",
         f"{limit.others_cpu_cores:.1f}"),
    ]  # fmt: skip
    labels = {
        ("e2e", "full-load"): "e2e full load, 1 worker",
        ("e2e", "half-load"): "e2e half load, 1 worker",
        ("scale", "full-load"): "full load, 2 workers",
        ("baseline", "full-load"): "per-message baseline",
    }
    for (phase, load), label in labels.items():
        rows.append(_row(label, results.phases[phase], load))
    for p in results.sweep:
        if p is results.phases["e2e"]:
            continue  # its rows are above
        for load in ("full-load", "half-load"):
            label = f"sweep {load[:4]} b={p.phase.batch_max} w={p.phase.within_s}"
            rows.append(_row(label, p, load))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in rows
    ]
    lines.insert(1, "-" * len(lines[0]))
    lines += ["", "goal                       value      target     met"]
    for name, goal in summary["goals"].items():
        mark = "yes" if goal["met"] else "NO"
        lines.append(f"{name:<26} {goal['value']:>9}  {goal['target']:<9}  {mark}")
    lines.append(
        f"(in CPU time per message: e2e_over_limit {summary['e2e_over_limit_cpu']}, "
        f"batched_over_per_message {summary['batched_over_per_message_cpu']}. "
        f'"others\' CPUs": what other processes of this {summary["run"]["cpus"]}-CPU machine '
        "used meanwhile; the goals assume about 0)"
    )
    busiest = max(summary["others_cpu_cores"].values())
    if busiest > 0.25:
        lines.append(
            f"WARNING: other processes kept up to {busiest:.1f} of {summary['run']['cpus']} CPUs "
            "busy during the measurements: the wall-clock ratios are skewed (see others' CPUs)"
        )
    lines += ["", tiers_table(summary["tiers"])]
    recommended = dict(summary["recommended"])
    point = recommended.pop("measured_at_this_point")
    lines += [
        "",
        "recommended: " + ", ".join(f"{k}={v}" for k, v in recommended.items()),
        f"  (this sweep point: {point['msgs_per_s']:.0f} msgs/s at full load, p50/p99 "
        f"{point['p50_ms_half_load']:.0f}/{point['p99_ms_half_load']:.0f} ms at half load)",
    ]
    return "\n".join(lines)


def tiers_table(tiers: dict[str, Any]) -> str:
    """Accuracy (dev sets, from the model cards) beside speed (this run), per tier."""
    lines = [
        "tier      model              set       acc    macro-F1  ECE    ent P  ent R  ent F1"
        "  limit docs/s  e2e msgs/s"
    ]
    for tier, t in tiers.items():
        e2e = f"{t['e2e_msgs_per_s']:.0f}" if t["e2e_msgs_per_s"] else "-"
        for name, m in t["dev_sets"].items():
            lines.append(
                f"{tier:<9} {t['model_version']:<18} {name:<9} {m['sentiment_accuracy']:.3f}  "
                f"{m['sentiment_macro_f1']:.3f}     {m['ece']:.3f}  {m['ner_precision']:.3f}  "
                f"{m['ner_recall']:.3f}  {m['ner_f1']:.3f}  {t['limit_docs_per_s']:>12.0f}  "
                f"{e2e:>10}"
            )
    return "\n".join(lines)


def write_json(summary: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        orjson.dumps(summary, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS) + b"\n"
    )


def plot(results: Results, path: Path) -> None:
    """Throughput (full load) and p99 latency (half load) against BATCH_MAX, per BATCH_WITHIN_S."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for within in sorted({p.phase.within_s for p in results.sweep}):
        points = sorted(
            (p for p in results.sweep if p.phase.within_s == within),
            key=lambda p: p.phase.batch_max,
        )
        x = [p.phase.batch_max for p in points]
        left.plot(
            x, [p.loads["full-load"].msgs_per_s for p in points], "o-", label=f"within {within} s"
        )
        right.plot(
            x, [p.loads["half-load"].p99_ms for p in points], "o-", label=f"within {within} s"
        )
    left.axhline(results.limit.docs_per_s, color="grey", ls="--", label="limit (NLP alone)")
    right.axhline(GOALS["p99_ms_half_load"][1], color="red", ls=":", label="p99 goal")
    half_rate = results.phases["e2e"].loads["half-load"].offered_per_s
    left.set(title="Throughput at full load", ylabel="msgs/s", ylim=(0, None))
    right.set(
        title=f"p99 latency at half load ({half_rate:.0f} msgs/s)", ylabel="ms", ylim=(0, None)
    )
    batches = sorted({p.phase.batch_max for p in results.sweep})
    for ax in (left, right):
        ax.set_xscale("log", base=2)
        ax.set_xticks(batches, [str(b) for b in batches])
        ax.set_xlabel("BATCH_MAX")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(
        f"feedback bench: model {results.model_version}, {len(os.sched_getaffinity(0))} CPUs"
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _row(label: str, phase: PhaseResult, load: str) -> tuple[str, ...]:
    r = phase.loads[load]
    return (
        label,
        str(r.messages),
        f"{r.msgs_per_s:.0f}",
        f"{r.p50_ms:.0f}",
        f"{r.p95_ms:.0f}",
        f"{r.p99_ms:.0f}",
        f"{r.worker_cpu_ms_per_msg:.2f}",
        f"{max(phase.peak_rss_mb):.0f}",
        f"{r.others_cpu_cores:.1f}",
    )


def _phase(p: PhaseResult) -> dict[str, Any]:
    return {
        "workers": p.phase.workers,
        "partitions": p.phase.partitions,
        "batch_max": p.phase.batch_max,
        "within_s": p.phase.within_s,
        "torch_threads": p.phase.torch_threads,
        "per_message_baseline": "baseline" in p.phase.command[-1],
        "peak_rss_mb": [round(r, 1) for r in p.peak_rss_mb],
        "loads": {name: vars(r) for name, r in p.loads.items()},
    }


def _ratio(a: float, b: float) -> float:
    return round(a / b, 3) if b else 0.0


def _met(value: float, op: str, target: float) -> bool:
    return value >= target if op == ">=" else value <= target
