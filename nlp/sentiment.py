"""The sentiment head: fastText-style `nn.EmbeddingBag` classifiers over hashed features.

A model is a `SentimentEnsemble` of members trained on different cross-validation folds
of the feedback; its probabilities are the mean of the members' calibrated ones.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from .errors import ModelCorruptError, ModelMismatchError
from .features import FeatureConfig, batch_ids


class SentimentClassifier(nn.Module):
    """Mean of hashed feature embeddings -> dropout -> linear -> logits.

    `temperature` (a buffer, fitted after training) divides the logits so that
    the softmax probabilities are calibrated.
    """

    def __init__(self, n_buckets: int, dim: int, n_labels: int, dropout: float = 0.2) -> None:
        super().__init__()
        self.embed = nn.EmbeddingBag(n_buckets, dim, mode="mean", sparse=True)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(dim, n_labels)
        self.register_buffer("temperature", torch.ones(()))
        nn.init.normal_(self.embed.weight, std=0.05)

    def forward(self, ids: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        return self.out(self.dropout(self.embed(ids, offsets)))

    def probabilities(self, ids: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self(ids, offsets) / self.temperature, dim=-1)


class SentimentEnsemble(nn.Module):
    """Members trained on different folds; probabilities are the members' mean."""

    def __init__(self, members: Sequence[SentimentClassifier]) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = nn.ModuleList(members)

    @property
    def n_labels(self) -> int:
        return self.members[0].out.out_features

    @property
    def temperatures(self) -> list[float]:
        return [float(member.temperature) for member in self.members]

    def forward(self, ids: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        """Calibrated class probabilities (rows sum to 1)."""
        probs = [member.probabilities(ids, offsets) for member in self.members]
        return torch.stack(probs).mean(0)

    probabilities = forward


def pack(batch: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Flatten a batch of id lists into EmbeddingBag's (ids, offsets) form."""
    lengths = [len(ids) for ids in batch]
    offsets = torch.tensor([0, *lengths[:-1]], dtype=torch.long).cumsum(0)
    flat = torch.tensor([i for ids in batch for i in ids], dtype=torch.long)
    return flat, offsets


@dataclass
class SentimentData:
    """Featurised examples: bucket ids, label index, a sample weight and, for distilled
    examples, the teacher's class probabilities (the target instead of the label)."""

    ids: list[list[int]] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)
    soft: list[list[float] | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.labels)

    def extend(
        self,
        ids: list[list[int]],
        labels: list[int],
        weight: float,
        soft: list[list[float]] | None = None,
    ) -> None:
        self.ids += ids
        self.labels += labels
        self.weights += [weight] * len(labels)
        self.soft += soft if soft is not None else [None] * len(labels)

    def add(self, other: SentimentData) -> None:
        self.ids += other.ids
        self.labels += other.labels
        self.weights += other.weights
        self.soft += other.soft

    def subset(self, keep: Sequence[bool]) -> SentimentData:
        """The examples whose `keep` flag is true, in order."""
        out = SentimentData()
        rows = zip(self.ids, self.labels, self.weights, self.soft, keep, strict=True)
        for ids, label, weight, soft, kept in rows:
            if kept:
                out.extend([ids], [label], weight, [soft] if soft is not None else None)
        return out

    def targets(self, idx: Sequence[int], n_labels: int) -> torch.Tensor:
        """Class-probability targets of examples `idx`: one-hot labels or soft labels."""
        target = nn.functional.one_hot(
            torch.tensor([self.labels[j] for j in idx]), n_labels
        ).float()
        for k, j in enumerate(idx):
            if self.soft[j] is not None:
                target[k] = torch.tensor(self.soft[j])
        return target


@dataclass(frozen=True)
class TrainSettings:
    """One classifier's training (values from the config's [sentiment] section)."""

    dim: int
    dropout: float
    epochs: int
    batch_size: int
    lr: float
    patience: int
    seed: int


@dataclass
class EpochLog:
    epoch: int
    train_loss: float
    val_loss: float
    val_accuracy: float
    val_macro_f1: float


def macro_f1(gold: list[int], pred: list[int], n: int) -> float:
    f1s = []
    for c in range(n):
        tp = sum(g == p == c for g, p in zip(gold, pred, strict=True))
        fp = sum(p == c and g != c for g, p in zip(gold, pred, strict=True))
        fn = sum(g == c and p != c for g, p in zip(gold, pred, strict=True))
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return sum(f1s) / n


@torch.inference_mode()
def predict_logits(
    model: SentimentClassifier, ids: list[list[int]], bs: int = 1024
) -> torch.Tensor:
    model.eval()
    out = [model(*pack(ids[i : i + bs])) for i in range(0, len(ids), bs)]
    return torch.cat(out) if out else torch.zeros((0, model.out.out_features))


def evaluate_split(model: SentimentClassifier, data: SentimentData) -> tuple[float, float, float]:
    """(loss, accuracy, macro-F1) of the uncalibrated model on a split."""
    logits = predict_logits(model, data.ids)
    gold = torch.tensor(data.labels)
    loss = nn.functional.cross_entropy(logits, gold).item()
    pred = logits.argmax(-1).tolist()
    acc = sum(p == g for p, g in zip(pred, data.labels, strict=True)) / max(len(pred), 1)
    return loss, acc, macro_f1(data.labels, pred, logits.shape[1])


def train_classifier(
    train: SentimentData,
    val: SentimentData,
    n_buckets: int,
    n_labels: int,
    settings: TrainSettings,
    on_epoch: Callable[[EpochLog], None] | None = None,
    progress: Callable[[int], object] | None = None,
    model: SentimentClassifier | None = None,
) -> tuple[SentimentClassifier, list[EpochLog]]:
    """Weighted cross-entropy training (soft targets where given) with early stopping on
    validation macro-F1.

    Pass `model` to continue training it (e.g. fine-tuning after pre-training).
    """
    torch.manual_seed(settings.seed)
    rng = random.Random(settings.seed)
    if model is None:
        model = SentimentClassifier(n_buckets, settings.dim, n_labels, settings.dropout)
    sparse_opt = torch.optim.SparseAdam(list(model.embed.parameters()), lr=settings.lr)
    dense_opt = torch.optim.Adam(model.out.parameters(), lr=settings.lr)
    order = list(range(len(train)))
    best, best_state, history, bad = -1.0, None, [], 0
    for epoch in range(1, settings.epochs + 1):
        model.train()
        rng.shuffle(order)
        total, seen = 0.0, 0
        for i in range(0, len(order), settings.batch_size):
            idx = order[i : i + settings.batch_size]
            ids, offsets = pack([train.ids[j] for j in idx])
            target = train.targets(idx, n_labels)
            weight = torch.tensor([train.weights[j] for j in idx])
            losses = nn.functional.cross_entropy(model(ids, offsets), target, reduction="none")
            loss = (losses * weight).sum() / weight.sum()
            sparse_opt.zero_grad()
            dense_opt.zero_grad()
            loss.backward()
            sparse_opt.step()
            dense_opt.step()
            total += loss.item() * len(idx)
            seen += len(idx)
            if progress:
                progress(len(idx))
        val_loss, val_acc, val_f1 = evaluate_split(model, val)
        log = EpochLog(epoch, total / max(seen, 1), val_loss, val_acc, val_f1)
        history.append(log)
        if on_epoch:
            on_epoch(log)
        if val_f1 > best + 1e-4:
            best, bad = val_f1, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            bad += 1
            if bad >= settings.patience:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    return model, history


def fit_temperature(model: SentimentClassifier, val: SentimentData) -> float:
    """Temperature-scale `model` on a validation split; returns the temperature set."""
    logits = predict_logits(model, val.ids).clone()  # out of inference mode for autograd
    temperature = temperature_for(logits, torch.tensor(val.labels, dtype=torch.long))
    model.temperature.fill_(temperature)
    return temperature


def calibrate_ensemble(ensemble: SentimentEnsemble, data: SentimentData) -> float:
    """Give every member one temperature: the T minimising the NLL of the ensemble's mean
    probabilities on `data` (held-out labelled texts); returns it."""
    logits = torch.stack([predict_logits(m, data.ids).clone() for m in ensemble.members])
    temperature = temperature_for(logits, torch.tensor(data.labels, dtype=torch.long))
    for member in ensemble.members:
        member.temperature.fill_(temperature)
    return temperature


def temperature_for(logits: torch.Tensor, gold: torch.Tensor) -> float:
    """Temperature scaling: the T minimising the NLL of softmax(logits / T) (1.0 without data).

    `logits` of shape (members, texts, labels) are an ensemble's: the NLL is that of the
    members' mean probabilities, as `SentimentEnsemble` computes them.
    """
    if len(gold) == 0:
        return 1.0
    logits = logits.detach().clone().float()
    log_t = torch.zeros((), requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.1, max_iter=100)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        if logits.dim() == 3:
            probs = torch.softmax(logits / log_t.exp(), dim=-1).mean(0)
            loss = nn.functional.nll_loss(probs.clamp_min(1e-12).log(), gold)
        else:
            loss = nn.functional.cross_entropy(logits / log_t.exp(), gold)
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    temperature = float(log_t.detach().exp().clamp(0.05, 20.0))
    return temperature if math.isfinite(temperature) else 1.0


class FastSentiment:
    """The fast tier at inference: hashed features of spaCy Docs -> the ensemble."""

    tier = "fast"

    def __init__(self, ensemble: SentimentEnsemble, features: FeatureConfig) -> None:
        self.ensemble = ensemble.eval()
        self.features = features

    @torch.inference_mode()
    def probabilities(self, docs: Sequence) -> list[list[float]]:
        """Calibrated class probabilities, one row per Doc."""
        if not docs:
            return []
        return self.ensemble.probabilities(*pack(batch_ids(docs, self.features))).tolist()


# --- persistence (safetensors only: no pickle anywhere) ---------------------------------------


def save_classifier(
    model: SentimentEnsemble, path: Path, labels: Sequence[str], features: FeatureConfig
) -> None:
    from safetensors.torch import save_file

    first = model.members[0]
    # One metadata key: safetensors writes several keys in arbitrary order, and
    # byte-identical files for identical training runs are worth keeping.
    info = {
        "labels": list(labels),
        "features": features.to_dict(),
        "dim": first.embed.embedding_dim,
        "dropout": first.dropout.p,
        "members": len(model.members),
    }
    meta = {"feedback_sentiment": json.dumps(info, sort_keys=True)}
    tensors = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, str(path), metadata=meta)


def load_classifier(
    path: Path, labels: Sequence[str], features: FeatureConfig
) -> SentimentEnsemble:
    """Load and check a model against the labels and feature config the card promises."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118
    except Exception as exc:  # safetensors raises several types for bad files
        raise ModelCorruptError(f"cannot read {path.name}: {exc}") from exc
    try:
        info = json.loads(meta["feedback_sentiment"])
        file_labels = info["labels"]
        file_features = FeatureConfig.from_dict(info["features"])
        dim = int(info["dim"])
        dropout = float(info.get("dropout", 0.0))
        n_members = int(info.get("members", 0))
    except (KeyError, ValueError, TypeError) as exc:
        raise ModelMismatchError(f"{path.name}: missing or bad metadata ({exc})") from exc
    if list(file_labels) != list(labels):
        raise ModelMismatchError(f"{path.name}: labels {file_labels} != card labels {list(labels)}")
    if file_features != features:
        raise ModelMismatchError(f"{path.name}: feature config differs from the model card")
    if n_members == 0:  # a single-classifier file: no `members` key, unprefixed tensors
        n_members, tensors = 1, {f"members.0.{k}": v for k, v in tensors.items()}
    expected = {}
    for i in range(n_members):
        expected |= {
            f"members.{i}.embed.weight": (features.n_buckets, dim),
            f"members.{i}.out.weight": (len(labels), dim),
            f"members.{i}.out.bias": (len(labels),),
            f"members.{i}.temperature": (),
        }
    got = {k: tuple(v.shape) for k, v in tensors.items()}
    if got != expected:
        raise ModelMismatchError(f"{path.name}: tensor shapes {got} != expected {expected}")
    members = [
        SentimentClassifier(features.n_buckets, dim, len(labels), dropout) for _ in range(n_members)
    ]
    model = SentimentEnsemble(members)
    model.load_state_dict(tensors)
    if not all(torch.isfinite(t).all() for t in tensors.values()):
        raise ModelCorruptError(f"{path.name}: non-finite weights")
    model.eval()
    return model
