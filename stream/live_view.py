"""The dashboard's live view: a sliding window over this worker's outcomes.

`LiveView.add` is fed each published batch (by `stream.web.Ops`); `snapshot` aggregates
the window for `/dashboard/data`: messages per second, sentiment mix, the most mentioned
ORG/PRODUCT entities with their sentiment, and the latest negative feedback.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from stream.contracts import SENTIMENT_LABELS
from stream.processing import Outcome

#: Entity labels the dashboard ranks.
ENTITY_LABELS = ("ORG", "PRODUCT")
#: Longest feedback text shown on the dashboard.
SHOWN_TEXT_CHARS = 280


@dataclass
class _Second:
    """What this worker published in one wall-clock second."""

    at: int
    messages: int = 0
    dead: int = 0
    sentiment: Counter = field(default_factory=Counter)
    #: (label, casefolded text) -> Counter of sentiment labels
    entities: dict[tuple[str, str], Counter] = field(default_factory=dict)
    #: (label, casefolded text) -> the surface form last seen
    names: dict[tuple[str, str], str] = field(default_factory=dict)


class LiveView:
    """A sliding window over this worker's outcomes, for the dashboard."""

    def __init__(self, window_s: int = 300, *, negatives: int = 10, top: int = 10) -> None:
        self.window_s = window_s
        self.top = top
        self._seconds: deque[_Second] = deque()
        self._negatives: deque[dict[str, Any]] = deque(maxlen=negatives)

    def add(self, outcomes: Sequence[Outcome], now: float | None = None) -> None:
        now = time.time() if now is None else now
        second = self._second(int(now))
        for outcome in outcomes:
            second.messages += 1
            record = outcome.enrichment
            if record is None:
                second.dead += 1
                continue
            sentiment = record.get("sentiment") or {}
            label = sentiment.get("label")
            if label not in SENTIMENT_LABELS:
                continue
            second.sentiment[label] += 1
            mentioned = []
            for entity in record.get("entities") or ():
                if entity.get("label") in ENTITY_LABELS and entity.get("text"):
                    key = (entity["label"], " ".join(entity["text"].split()).casefold())
                    second.entities.setdefault(key, Counter())[label] += 1
                    second.names[key] = entity["text"]
                    mentioned.append({"text": entity["text"], "label": entity["label"]})
            if label == "negative":
                text = outcome.text or ""
                self._negatives.append(
                    {
                        "id": record.get("id"),
                        "text": text[:SHOWN_TEXT_CHARS]
                        + ("…" if len(text) > SHOWN_TEXT_CHARS else ""),
                        "score": (sentiment.get("scores") or {}).get("negative"),
                        "entities": mentioned,
                        "processed_at": record.get("processed_at"),
                        "at": now,
                    }
                )

    def _second(self, at: int) -> _Second:
        if not self._seconds or self._seconds[-1].at < at:
            self._seconds.append(_Second(at))
        elif self._seconds[-1].at > at:  # the clock went back: count it in the newest second
            return self._seconds[-1]
        self._prune(at)
        return self._seconds[-1]

    def _prune(self, now: float) -> None:
        horizon = now - self.window_s
        while self._seconds and self._seconds[0].at <= horizon:
            self._seconds.popleft()

    def snapshot(self, now: float | None = None) -> dict[str, Any]:
        """The window, aggregated: what `/dashboard/data` returns."""
        now = time.time() if now is None else now
        self._prune(now)
        end = int(now)
        per_second = [0] * self.window_s
        messages = dead = 0
        sentiment: Counter = Counter()
        entities: dict[tuple[str, str], Counter] = {}
        names: dict[tuple[str, str], str] = {}
        for second in self._seconds:
            index = self.window_s - 1 - (end - second.at)
            if 0 <= index < self.window_s:
                per_second[index] += second.messages
            messages += second.messages
            dead += second.dead
            sentiment.update(second.sentiment)
            for key, counts in second.entities.items():
                entities.setdefault(key, Counter()).update(counts)
            names.update(second.names)
        ranked = sorted(entities.items(), key=lambda kv: (-kv[1].total(), kv[0]))[: self.top]
        recent = per_second[-10:]
        return {
            "window_s": self.window_s,
            "now": datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds"),
            "messages": messages,
            "enriched": messages - dead,
            "dead": dead,
            "rate": {
                "now": round(sum(recent) / len(recent), 2),
                "window": round(messages / self.window_s, 2),
                "per_second": per_second,
            },
            "sentiment": {label: sentiment.get(label, 0) for label in SENTIMENT_LABELS},
            "entities": [
                {
                    "text": names[key],
                    "label": key[0],
                    "mentions": counts.total(),
                    "sentiment": {label: counts.get(label, 0) for label in SENTIMENT_LABELS},
                }
                for key, counts in ranked
            ],
            "negative": [
                {k: v for k, v in item.items() if k != "at"}
                for item in reversed(self._negatives)
                if item["at"] > now - self.window_s
            ],
        }
