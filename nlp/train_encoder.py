"""Fine-tuning the accurate tier: the whole pre-trained encoder and its head, in a plain loop.

AdamW with linear warm-up and decay, weighted cross-entropy (the same per-example weights as
the fast tier's), batches of texts of similar length (less padding), early stopping on
validation macro-F1, then temperature scaling on the validation split. Training uses every
core torch is allowed (or the GPU); the caller's thread count is restored afterwards.
"""

from __future__ import annotations

import copy
import os
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
from torch import nn

from .config import TrainingConfig
from .corpus import TrainingData, with_sentiment
from .encoder import AccurateSentiment, load_pretrained
from .progress import Reporter
from .schema import SENTIMENT_LABELS, Record
from .sentiment import EpochLog, macro_f1, temperature_for


@dataclass
class EncoderResult:
    head: AccurateSentiment
    metrics: dict[str, float]
    history: list[dict]


@dataclass
class Examples:
    """Texts with a label index and a sample weight."""

    texts: list[str]
    labels: list[int]
    weights: list[float]

    @classmethod
    def of(cls, records: Sequence[Record], weight: float = 1.0) -> Examples:
        records = with_sentiment(records)
        labels = [SENTIMENT_LABELS.index(r.sentiment) for r in records]
        return cls([r.text for r in records], labels, [weight] * len(records))

    def __add__(self, other: Examples) -> Examples:
        return Examples(
            self.texts + other.texts, self.labels + other.labels, self.weights + other.weights
        )

    def __len__(self) -> int:
        return len(self.texts)


def sentiment_examples(data: TrainingData, config: TrainingConfig) -> tuple[Examples, Examples]:
    """(train, validation) examples for the encoder, as the config weights them."""
    team = config.encoder.labels_weight
    train = Examples.of(data.feedback_train) + Examples.of(data.labels_train, team)
    if config.encoder.synthetic_weight > 0:
        synthetic = data.synthetic_train[: config.data.synthetic]
        train = train + Examples.of(synthetic, config.encoder.synthetic_weight)
    return train, Examples.of(data.feedback_val) + Examples.of(data.labels_val, team)


def train_encoder(data: TrainingData, config: TrainingConfig, reporter: Reporter) -> EncoderResult:
    """Fine-tune the packaged encoder on `data` as `config` says."""
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, len(os.sched_getaffinity(0))))
    try:
        return _train(*sentiment_examples(data, config), config, reporter)
    finally:
        torch.set_num_threads(threads)


def _train(
    train: Examples, val: Examples, config: TrainingConfig, reporter: Reporter
) -> EncoderResult:
    ec = config.encoder
    seed = config.data.seed
    torch.manual_seed(seed)
    rng = random.Random(seed)
    model, tokenizer = load_pretrained(len(SENTIMENT_LABELS), ec.dropout)
    if ec.freeze_embeddings:  # 11.7M of the 22.7M weights: half the optimizer's work
        model.encoder.embeddings.word_embeddings.weight.requires_grad_(False)
    head = AccurateSentiment(model, tokenizer, ec.max_length)
    trained = [p for p in model.parameters() if p.requires_grad]
    steps_per_epoch = -(-len(train) // ec.batch_size)
    total_steps = steps_per_epoch * ec.epochs
    optimizer = torch.optim.AdamW(trained, lr=ec.lr, weight_decay=ec.weight_decay)
    warmup = max(1, int(total_steps * ec.warmup))

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    best, best_state, history, bad = -1.0, None, [], 0
    with reporter.progress(len(train) * ec.epochs, "sentiment encoder") as advance:
        for epoch in range(1, ec.epochs + 1):
            model.train()
            total, seen = 0.0, 0
            for batch in length_batches(train.texts, ec.batch_size, rng):
                enc = head.encode([train.texts[i] for i in batch])
                gold = torch.tensor([train.labels[i] for i in batch], device=head.device)
                weight = torch.tensor([train.weights[i] for i in batch], device=head.device)
                losses = nn.functional.cross_entropy(model(**enc), gold, reduction="none")
                loss = (losses * weight).sum() / weight.sum()
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(trained, 1.0)
                optimizer.step()
                scheduler.step()
                total += loss.item() * len(batch)
                seen += len(batch)
                advance(len(batch))
            log = _validate(head, val, epoch, total / max(seen, 1))
            history.append(asdict(log))
            reporter.line(
                f"sentiment encoder epoch {epoch}: train loss {log.train_loss:.4f}  val loss "
                f"{log.val_loss:.4f}  acc {log.val_accuracy:.3f}  macro-F1 {log.val_macro_f1:.3f}"
            )
            if log.val_macro_f1 > best + 1e-4:
                best, bad = log.val_macro_f1, 0
                best_state = copy.deepcopy(model.state_dict())
            else:
                bad += 1
                if bad >= ec.patience:
                    break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    logits = head.logits(val.texts)
    temperature = temperature_for(logits, torch.tensor(val.labels))
    model.temperature.fill_(temperature)
    pred = logits.argmax(-1).tolist()
    accuracy = sum(p == g for p, g in zip(pred, val.labels, strict=True)) / max(len(val), 1)
    f1 = macro_f1(val.labels, pred, len(SENTIMENT_LABELS))
    reporter.line(
        f"sentiment encoder: val acc {accuracy:.3f} macro-F1 {f1:.3f}, temperature "
        f"{temperature:.2f}, on {head.device.type}"
    )
    metrics = {"accuracy": accuracy, "macro_f1": f1, "n": len(val), "temperature": temperature}
    return EncoderResult(head, metrics, history)


def length_batches(texts: Sequence[str], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Shuffled batches of indices; within a pool of 50 batches, texts of similar length go
    together, so that little of each batch is padding."""
    order = list(range(len(texts)))
    rng.shuffle(order)
    pool = batch_size * 50
    batches = []
    for i in range(0, len(order), pool):
        chunk = sorted(order[i : i + pool], key=lambda j: len(texts[j]))
        batches += [chunk[k : k + batch_size] for k in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def _validate(head: AccurateSentiment, val: Examples, epoch: int, train_loss: float) -> EpochLog:
    logits = head.logits(val.texts)
    gold = torch.tensor(val.labels)
    loss = nn.functional.cross_entropy(logits, gold).item() if len(val) else float("nan")
    pred = logits.argmax(-1).tolist()
    accuracy = sum(p == g for p, g in zip(pred, val.labels, strict=True)) / max(len(val), 1)
    f1 = macro_f1(val.labels, pred, len(SENTIMENT_LABELS))
    head.model.train()
    return EpochLog(epoch, train_loss, loss, accuracy, f1)
