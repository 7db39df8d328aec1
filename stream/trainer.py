"""`feedback trainer`: learns from labelled feedback and promotes better models.

Kafka is the log of record. On start the trainer reads the labels topic from the beginning
and rebuilds its dataset (the latest label per id wins); its consumer group's committed
offsets say which labels a training run has already used. Once RETRAIN_AFTER_LABELS new
labels have arrived (or every RETRAIN_INTERVAL_S with at least one), it trains a candidate
in a separate process, so consuming never stops, evaluates it against the serving model on
a fixed evaluation set, and promotes it only if no target metric is worse by more than
PROMOTION_MARGIN. Promotion writes the version atomically to the model store and announces
it on the models topic; the workers swap to it between two batches.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import logging
import multiprocessing
import signal
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import TopicPartition
from aiokafka.structs import OffsetAndMetadata

from stream.contracts import InvalidFeedback, Label, Source, dead_letter, dumps, parse_label
from stream.kafka import consumer, ensure_topics, partitions_of, producer
from stream.models import announce, announcement
from stream.settings import Settings

log = logging.getLogger(__name__)

#: Metrics the promotion gate compares (higher is better), as named in the model card.
TARGET_METRICS = ("sentiment_accuracy", "sentiment_macro_f1", "ner_f1")


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

    def write_jsonl(self, path: Path) -> Path:
        with path.open("w", encoding="utf-8") as out:
            for label in self.labels.values():
                out.write(json.dumps(label.to_training_record(), ensure_ascii=False) + "\n")
        return path


@dataclass(frozen=True)
class GateResult:
    promote: bool
    reasons: list[str]


def gate(candidate: dict[str, float], serving: dict[str, float], margin: float) -> GateResult:
    """Promote unless a target metric of the candidate is worse by more than `margin`."""
    reasons = []
    for name in TARGET_METRICS:
        if name not in candidate or name not in serving:
            continue
        if candidate[name] < serving[name] - margin:
            reasons.append(f"{name} {candidate[name]:.3f} < serving {serving[name]:.3f} - {margin}")
    return GateResult(not reasons, reasons)


def train_and_evaluate(
    store: str,
    labels_file: str,
    eval_file: str | None,
    serving: str | None,
    epochs: int | None,
    tier: str = "fast",
) -> dict[str, Any]:
    """Runs in the training process: a candidate from the labels, and both models' metrics."""
    from nlp.evaluation import evaluate_version
    from nlp.training import load_config, train_model

    config = load_config()
    feedback = list(config["data"]["feedback"])
    overrides: dict[str, Any] = {"data.feedback": [*feedback, labels_file], "sentiment.tier": tier}
    if epochs:
        overrides |= {"sentiment.epochs": epochs, "encoder.epochs": epochs, "ner.epochs": epochs}
    version = time.strftime("t%Y%m%d-%H%M%S", time.gmtime())
    card = train_model(store, load_config(overrides=overrides), version=version, progress=False)
    result = {"version": card["version"], "candidate": evaluate_version(store, version, eval_file)}
    result["serving"] = evaluate_version(store, serving, eval_file) if serving else {}
    return result


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
        n_labels, self.labels.new = len(self.labels.labels), 0
        self.last_training = time.monotonic()
        serving = ModelStore(s.model_dir).promoted(s.sentiment_model)
        eval_file = str(s.eval_data) if s.eval_data else None
        log.info("training a candidate on %d labels (serving %s) ...", n_labels, serving)
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="labels-") as tmp:
            labels_file = str(self.labels.write_jsonl(Path(tmp) / "labels.jsonl"))
            result = await asyncio.get_running_loop().run_in_executor(
                self.pool,
                train_and_evaluate,
                str(s.model_dir),
                labels_file,
                eval_file,
                serving,
                s.trainer_epochs,
                s.sentiment_model,
            )
        version, candidate, current = result["version"], result["candidate"], result["serving"]
        log.info(
            "candidate %s trained in %.0f s: %s (serving: %s)",
            version,
            time.monotonic() - started,
            _fmt(candidate),
            _fmt(current),
        )
        verdict = gate(candidate, current, s.promotion_margin)
        if not verdict.promote:
            log.warning(
                "candidate %s rejected by the gate: %s", version, "; ".join(verdict.reasons)
            )
            return 0, offsets
        ModelStore(s.model_dir).promote(version)
        await announce(s, announcement(s.model_dir, version, previous=serving))
        log.info("promoted and announced %s on %s", version, s.models_topic)
        return 1, offsets


def _fmt(metrics: dict[str, float]) -> str:
    return ", ".join(f"{k}={metrics[k]:.3f}" for k in TARGET_METRICS if k in metrics) or "-"
