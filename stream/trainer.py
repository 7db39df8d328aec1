"""`feedback trainer`: learns from labelled feedback and promotes better models.

Kafka is the log of record. On start the trainer reads the labels topic from the beginning
and rebuilds its dataset (the latest label per id wins); its consumer group's committed
offsets say which labels a training run has already used. Once RETRAIN_AFTER_LABELS new
labels have arrived (or every RETRAIN_INTERVAL_S with at least one), it trains a candidate
in a separate process, so consuming never stops.

The labels are the team's own domain: they go to the training config's `[data] labels`,
which weights them (`labels_weight`), except a share LABELS_HOLDOUT chosen by a hash of
each id (so a label never changes sides): the team holdout. Candidate and serving model
are evaluated on the fixed evaluation set (EVAL_DATA) and on the team holdout, and the
promotion gate (`gate`) decides. Promotion writes the version atomically to the model
store and announces it on the models topic; the workers swap to it between two batches.
"""

from __future__ import annotations

import asyncio
import ctypes
import hashlib
import json
import logging
import math
import multiprocessing
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiokafka import TopicPartition
from aiokafka.structs import OffsetAndMetadata

from stream.contracts import InvalidFeedback, Label, Source, dead_letter, dumps, parse_label
from stream.kafka import consumer, ensure_topics, partitions_of, producer
from stream.models import announce, announcement
from stream.settings import Settings, UserError

if TYPE_CHECKING:
    from nlp.config import TrainingConfig

log = logging.getLogger(__name__)

#: Metrics the promotion gate compares (higher is better), as named in the model card.
TARGET_METRICS = ("sentiment_accuracy", "sentiment_macro_f1", "ner_f1")
#: The evaluation sets of a candidate: the fixed one (EVAL_DATA) and the team holdout.
FIXED, TEAM = "fixed", "team"
#: Below this many texts, the team holdout is too noisy for the gate to go by.
MIN_TEAM_HOLDOUT = 30


def holdout_noise(n: float) -> float:
    """How far a metric measured on `n` texts may move by chance: the bound on a proportion's
    standard deviation, 0.5 / sqrt(n) (0.08 on 40 texts, 0.035 on 200)."""
    return 0.5 / math.sqrt(n)


def training_pool() -> ProcessPoolExecutor:
    """One process that trains candidates, so that consuming labels never stops.

    On Linux the process is killed when the trainer dies, even by `kill -9`: a training run
    must not outlive the service that would use its result.
    """
    return ProcessPoolExecutor(
        1, mp_context=multiprocessing.get_context("spawn"), initializer=die_with_parent
    )


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent exits (PR_SET_PDEATHSIG)."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGKILL)


@dataclass
class LabelSet:
    """Every accepted label, latest per id, and how many arrived since the last training."""

    labels: dict[str | int, Label] = field(default_factory=dict)
    new: int = 0

    def add(self, label: Label, *, new: bool) -> None:
        self.labels[label.id] = label
        self.new += new

    def split(self, holdout: float) -> tuple[list[Label], list[Label]]:
        """(train, team holdout): each label's side is fixed by its id, not by what else came."""
        train: list[Label] = []
        held: list[Label] = []
        for label in self.labels.values():
            (held if held_out(label.id, holdout) else train).append(label)
        return train, held


def held_out(label_id: str | int, fraction: float) -> bool:
    """Whether a label belongs to the team holdout: a seeded hash of its id below `fraction`."""
    digest = hashlib.blake2b(f"holdout:{json.dumps(label_id)}".encode(), digest_size=8).digest()
    return int.from_bytes(digest) / 2**64 < fraction


def write_jsonl(labels: list[Label], path: Path) -> Path:
    """The labels as nlp training records (`{"text", "sentiment", "entities"}` lines)."""
    with path.open("w", encoding="utf-8") as out:
        for label in labels:
            out.write(json.dumps(label.to_training_record(), ensure_ascii=False) + "\n")
    return path


#: Target metrics of one model on each evaluation set: `{FIXED: {...}, TEAM: {...}}`, each
#: with `n`, the number of texts.
Scores = dict[str, dict[str, float]]


@dataclass(frozen=True)
class GateResult:
    """The promotion gate's verdict, the rule that decided it and why (one line)."""

    promote: bool
    rule: str
    why: str


def gate(candidate: Scores, serving: Scores, margin: float, tolerance: float) -> GateResult:
    """Whether a candidate may replace the serving model.

    1. Nothing serving, or nothing to compare: promote.
    2. On the team holdout (when both have one of MIN_TEAM_HOLDOUT texts or more), a target
       metric worse than serving by more than its margin: reject. The team holdout's margin is
       `margin` or its noise (`holdout_noise`), the larger: a small holdout moves by chance.
    3. On the fixed set, no target metric worse by more than `margin`: promote.
    4. A target metric better on the team holdout by its margin or more, and none worse than
       `tolerance` on the fixed set: promote, although the fixed set did not move.
    5. Else reject.
    """
    fixed_c, fixed_s = candidate.get(FIXED, {}), serving.get(FIXED, {})
    if not fixed_s:
        return GateResult(True, "nothing-serving", "nothing serving to compare with")
    team_c, team_s = candidate.get(TEAM, {}), serving.get(TEAM, {})
    n_team = min(team_c.get("n", 0), team_s.get("n", 0))
    team = n_team >= MIN_TEAM_HOLDOUT
    if team:
        team_margin = max(margin, holdout_noise(n_team))
        if worse := _worse(team_c, team_s, team_margin):
            return GateResult(False, "worse-on-team", f"worse on the team holdout: {worse}")
        better = _better(team_c, team_s, team_margin)
    else:
        better = ""
    team_note = (
        f"team holdout ({n_team:.0f} texts, margin {team_margin:.3f}): "
        + (f"better: {better}" if better else "not better by the margin")
        if team
        else f"team holdout under {MIN_TEAM_HOLDOUT} texts: not compared"
    )
    fixed_worse = _worse(fixed_c, fixed_s, margin)
    if not fixed_worse:
        return GateResult(
            True, "no-regression", f"no target metric worse than serving by {margin}; {team_note}"
        )
    if better and not (beyond := _worse(fixed_c, fixed_s, tolerance)):
        return GateResult(
            True,
            "better-on-team",
            f"{team_note}; on the evaluation set within tolerance {tolerance}: {fixed_worse}",
        )
    if better:
        return GateResult(False, "beyond-tolerance", f"{team_note}; but {beyond}")
    return GateResult(False, "regression", f"{fixed_worse}; {team_note}")


def _worse(candidate: dict[str, float], serving: dict[str, float], by: float) -> str:
    """The target metrics where the candidate is below serving by more than `by`."""
    return _listed(candidate, serving, lambda c, s: c < s - by)


def _better(candidate: dict[str, float], serving: dict[str, float], by: float) -> str:
    """The target metrics where the candidate is above serving by `by` or more."""
    return _listed(candidate, serving, lambda c, s: c > s and c >= s + by)


def _listed(
    candidate: dict[str, float], serving: dict[str, float], test: Callable[[float, float], bool]
) -> str:
    names = [n for n in TARGET_METRICS if n in candidate and n in serving]
    return ", ".join(
        f"{n} {candidate[n]:.3f} vs serving {serving[n]:.3f}"
        for n in names
        if test(candidate[n], serving[n])
    )


@dataclass(frozen=True)
class TrainingJob:
    """What the training process needs (plain values: it crosses a process boundary)."""

    store: str
    config: str | None  # the training config file (None: nlp/config.cfg)
    labels: str  # JSONL the candidate trains on
    holdout: str | None  # JSONL of the team holdout, None when empty
    eval_data: str | None  # the fixed evaluation set (None: the dev set)
    serving: str | None
    epochs: int | None
    tier: str  # the sentiment tier (SENTIMENT_MODEL)


def training_config(settings: Settings) -> TrainingConfig:
    """The training config the trainer's candidates use, or a `UserError` saying why not."""
    from nlp.config import load_config
    from nlp.corpus import check_data_files
    from nlp.errors import ConfigError

    try:
        config = load_config(settings.trainer_config)
        check_data_files(config)
        return config
    except ConfigError as exc:
        raise UserError(f"TRAINER_CONFIG: {exc}") from None


def train_and_evaluate(job: TrainingJob) -> dict[str, Any]:
    """Runs in the training process: a candidate from the labels, and both models' scores."""
    from nlp.config import load_config
    from nlp.evaluation import evaluate_version
    from nlp.training import train_model

    config = load_config(job.config)
    overrides: dict[str, Any] = {
        "data.labels": [*config.data.labels, job.labels],
        "sentiment.tier": job.tier,
    }
    if job.epochs:
        overrides |= {k: job.epochs for k in ("sentiment.epochs", "encoder.epochs", "ner.epochs")}
    version = time.strftime("t%Y%m%d-%H%M%S", time.gmtime())
    card = train_model(job.store, config.with_overrides(overrides), version=version, progress=False)

    def scores(model: str) -> Scores:
        result = {FIXED: _targets(evaluate_version(job.store, model, job.eval_data))}
        if job.holdout:
            result[TEAM] = _targets(evaluate_version(job.store, model, job.holdout))
        return result

    return {
        "version": card["version"],
        "candidate": scores(version),
        "serving": scores(job.serving) if job.serving else {},
    }


def _targets(report: dict[str, Any]) -> dict[str, float]:
    """The target metrics of an evaluation report, each only where it has gold data."""
    out: dict[str, float] = {"n": report["n_docs"]}
    if report["sentiment"]["n"]:
        out |= {k: report[k] for k in ("sentiment_accuracy", "sentiment_macro_f1")}
    if report["entities"]["micro"]["support"]:
        out["ner_f1"] = report["ner_f1"]
    return out


class Trainer:
    """The trainer service: consume labels, retrain, gate, promote, announce."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.group = f"{settings.app_id}-trainer"
        self.labels = LabelSet()
        self.pool = training_pool()
        self.last_training = time.monotonic()

    async def run(self, *, stop_after_promotions: int | None = None) -> None:
        """Consume labels forever (or until `stop_after_promotions` promotions: tests)."""
        s = self.settings
        await ensure_topics(s, [s.labels_topic, s.dlq_topic])
        await ensure_topics(s, [s.models_topic], partitions=1)
        cons = consumer(s, group_id=self.group, auto_offset_reset="earliest")
        await cons.start()
        dlq = producer(s)
        await dlq.start()
        promotions = 0
        try:
            committed = await self._rebuild(cons, dlq)
            log.info(
                "trainer ready: %d labels rebuilt from %s, %d not yet trained on",
                len(self.labels.labels),
                s.labels_topic,
                self.labels.new,
            )
            training: asyncio.Future | None = None
            while stop_after_promotions is None or promotions < stop_after_promotions:
                batches = await cons.getmany(timeout_ms=500)
                for tp, records in batches.items():
                    for rec in records:
                        await self._accept(rec, dlq, new=True)
                    committed[tp] = records[-1].offset + 1
                if training is None and self._due():
                    training = asyncio.ensure_future(self._train(dict(committed)))
                if training is not None and training.done():
                    promoted, used = training.result()
                    training = None
                    await cons.commit({tp: OffsetAndMetadata(o, "") for tp, o in used.items()})
                    promotions += promoted
        finally:
            self.pool.shutdown(wait=False, cancel_futures=True)
            await dlq.stop()
            await cons.stop()

    async def _rebuild(self, cons, dlq) -> dict[TopicPartition, int]:
        """Read the labels topic up to its current end; labels past the commits are new."""
        s = self.settings
        tps = [TopicPartition(s.labels_topic, p) for p in await partitions_of(s, s.labels_topic)]
        cons.assign(tps)
        await cons.seek_to_beginning(*tps)
        ends = await cons.end_offsets(tps)
        committed = {tp: (await cons.committed(tp)) or 0 for tp in tps}
        for tp in tps:
            while await cons.position(tp) < ends[tp]:
                for rec in (await cons.getmany(tp, timeout_ms=1000)).get(tp, []):
                    await self._accept(rec, dlq, new=rec.offset >= committed[tp])
        return {tp: max(committed[tp], ends[tp]) for tp in tps}

    async def _accept(self, rec, dlq, *, new: bool) -> None:
        try:
            label = parse_label(rec.value)
        except InvalidFeedback as exc:
            if new:  # old invalid labels were dead-lettered before the restart
                letter = dead_letter(
                    rec.value,
                    rec.key,
                    Source(rec.topic, rec.partition, rec.offset, rec.timestamp),
                    reason=exc.reason,
                    error=exc.error,
                    detail=exc.detail,
                    max_payload_bytes=self.settings.dlq_payload_bytes,
                    record_id=exc.record_id,
                )
                await dlq.send_and_wait(self.settings.dlq_topic, dumps(letter), key=rec.key)
            return
        self.labels.add(label, new=new)

    def _due(self) -> bool:
        s = self.settings
        if self.labels.new >= s.retrain_after_labels:
            return True
        elapsed = time.monotonic() - self.last_training
        return (
            bool(s.retrain_interval_s) and self.labels.new > 0 and elapsed >= s.retrain_interval_s
        )

    async def _train(self, offsets: dict[TopicPartition, int]) -> tuple[int, dict]:
        """Train, evaluate and maybe promote; returns (promotions, offsets now trained on)."""
        from nlp import ModelStore

        s = self.settings
        train, holdout = self.labels.split(s.labels_holdout)
        self.labels.new = 0
        self.last_training = time.monotonic()
        serving = ModelStore(s.model_dir).promoted(s.sentiment_model)
        log.info(
            "training a candidate on %d labels, %d held out as the team holdout (serving %s) ...",
            len(train),
            len(holdout),
            serving,
        )
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="labels-") as tmp:
            job = TrainingJob(
                store=str(s.model_dir),
                config=str(s.trainer_config) if s.trainer_config else None,
                labels=str(write_jsonl(train, Path(tmp) / "labels.jsonl")),
                holdout=str(write_jsonl(holdout, Path(tmp) / "holdout.jsonl")) if holdout else None,
                eval_data=str(s.eval_data) if s.eval_data else None,
                serving=serving,
                epochs=s.trainer_epochs,
                tier=s.sentiment_model,
            )
            result = await asyncio.get_running_loop().run_in_executor(
                self.pool, train_and_evaluate, job
            )
        version, candidate, current = result["version"], result["candidate"], result["serving"]
        log.info(
            "candidate %s trained in %.0f s: %s (serving: %s)",
            version,
            time.monotonic() - started,
            _fmt(candidate),
            _fmt(current),
        )
        verdict = gate(candidate, current, s.promotion_margin, s.promotion_tolerance)
        extra = {"gate": {"promote": verdict.promote, "rule": verdict.rule, "why": verdict.why}}
        extra |= {"candidate": candidate, "serving": current}
        if not verdict.promote:
            log.warning("candidate %s rejected by the gate: %s", version, verdict.why, extra=extra)
            return 0, offsets
        log.info(
            "candidate %s passes the gate (%s): %s", version, verdict.rule, verdict.why, extra=extra
        )
        ModelStore(s.model_dir).promote(version)
        await announce(s, announcement(s.model_dir, version, previous=serving))
        log.info("promoted and announced %s on %s", version, s.models_topic)
        return 1, offsets


def _fmt(scores: Scores) -> str:
    """`fixed: sentiment_accuracy=0.880, ...; team: ...` (or `-`)."""
    parts = []
    for name, metrics in scores.items():
        values = ", ".join(f"{k}={metrics[k]:.3f}" for k in TARGET_METRICS if k in metrics)
        parts.append(f"{name}: {values}")
    return "; ".join(parts) or "-"
