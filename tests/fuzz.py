"""A generated hostile set: mutations of valid feedback plus shape attacks, from a fixed seed.

Each input is `(kind, value, expected)`: `expected` is the dead-letter reason the worker must
give, `None` when it must be enriched, or `ANY` when a random mutation may land either way
(only that it lands somewhere is checked). The kinds probe the boundaries between what the
parser accepts, what the serialiser writes and what the model reads.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import orjson

from stream.contracts import MAX_JSON_DEPTH, MAX_JSON_VALUES

ANY = "*"
Case = tuple[str, bytes, str | None]

_PHRASES = (
    "the app keeps crashing after the update Samsung Galaxy support never replied "
    "love the new Kindle battery life is great delivery was late refund please "
    "Netflix price went up again my order arrived broken Pixel 8 camera superb "
    "Spotify playlist vanished thanks to the team"
)
WORDS = _PHRASES.split(" ")

ODD_TEXTS = [
    "שלום, האפליקציה של Wix קורסת כל הזמן",
    "مرحبا، الطلب من Amazon تأخر",
    "\u202eright-to-left override\u202c on the iPhone",
    "control \x01\x02\x07\x1b[31m chars in the Pixel 8 review",
    "NUL \x00 inside a text about Netflix",
    "zero\u200bwidth\u200bspaces Tesla",
    "Ze\u0301\u0301\u0301\u0301ro combining marks on Samsung",
    "😀😡🔥 👍🏽👨‍👩‍👧",
    "\t\n\r mixed whitespace Dell \u3000 laptop",
]


def valid_message(rng: random.Random, i: int) -> dict:
    text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 40)))
    return {"id": f"v-{i}", "text": text, "channel": rng.choice(["email", "app", "web"])}


def nested(depth: int) -> bytes:
    """An input whose extra field nests `depth` arrays (the whole object: depth + 1 levels)."""
    return b'{"id": "deep", "text": "hello", "x": ' + b"[" * depth + b"]" * depth + b"}"


def _truncated(rng: random.Random, i: int) -> bytes:
    raw = orjson.dumps(valid_message(rng, i))
    return raw[: rng.randrange(1, len(raw))]


def _bit_flipped(rng: random.Random, i: int) -> bytes:
    raw = bytearray(orjson.dumps(valid_message(rng, i)))
    for _ in range(rng.randint(1, 4)):
        raw[rng.randrange(len(raw))] ^= 1 << rng.randrange(8)
    return bytes(raw)


_ID_KINDS: list[tuple[object, str | None]] = [
    (None, "missing_id"),
    (True, "invalid_id"),
    (1.5, "invalid_id"),
    ([1], "invalid_id"),
    ({"a": 1}, "invalid_id"),
    ("", "invalid_id"),
    ("x" * 600, "invalid_id"),
    (-7, None),
    (2**63 - 1, None),
    ("ok-id", None),
]
_TEXT_KINDS: list[tuple[object, str | None]] = [
    (None, "missing_text"),
    (False, "invalid_text"),
    (42, "invalid_text"),
    (["a"], "invalid_text"),
    ({"t": "x"}, "invalid_text"),
    ("", "empty_text"),
    ("  \n\t\u3000", "empty_text"),
    ("fine text about Spotify", None),
]


def _id_of_type(rng: random.Random, i: int) -> tuple[bytes, str | None]:
    value, expected = _ID_KINDS[i % len(_ID_KINDS)]
    return orjson.dumps({"id": value, "text": "the id is odd"}), expected


def _huge_int_id(rng: random.Random, i: int) -> tuple[bytes, str | None]:
    big = rng.choice([2**63, 2**64 - 1, 2**64, -(2**63) - 1, 10**30])
    return b'{"id": %d, "text": "an id beyond 64 bits"}' % big, "invalid_id"


def _text_of_type(rng: random.Random, i: int) -> tuple[bytes, str | None]:
    value, expected = _TEXT_KINDS[i % len(_TEXT_KINDS)]
    return orjson.dumps({"id": i, "text": value}), expected


def _huge_array(rng: random.Random, i: int) -> tuple[bytes, str | None]:
    n = rng.choice([MAX_JSON_VALUES + 10, 100_000, 150_000])
    return orjson.dumps({"id": i, "text": "big extra field", "xs": [0] * n}), "too_many_values"


def _deep(rng: random.Random, i: int) -> tuple[bytes, str | None]:
    # Around every boundary: ours (MAX_JSON_DEPTH), the serialiser's (254), the parser's (1024).
    below = [MAX_JSON_DEPTH - 2, MAX_JSON_DEPTH - 1]
    depth = rng.choice([*below, MAX_JSON_DEPTH, 253, 254, 255, 500, 1022, 1023, 1024, 2000])
    if depth < MAX_JSON_DEPTH:
        return nested(depth), None
    return nested(depth), "too_deep" if depth < 1024 else "invalid_json"


def _duplicate_keys(rng: random.Random, i: int) -> tuple[bytes, str | None]:
    raw = b'{"id": %d, "text": "first", "text": "second, the Kindle is fine", "id": %d}'
    return raw % (i, i), None


def _non_finite(rng: random.Random, i: int) -> tuple[bytes, str | None]:
    literal = rng.choice([b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e400"])
    return b'{"id": %d, "text": "numbers", "score": ' % i + literal + b"}", "invalid_json"


def _utf16(rng: random.Random, i: int) -> tuple[bytes, str | None]:
    raw = orjson.dumps(valid_message(rng, i)).decode()
    encoding = rng.choice(["utf-16", "utf-16-le", "utf-16-be"])
    # With a byte order mark it is not UTF-8; without, ASCII in UTF-16 is UTF-8 with NULs.
    return raw.encode(encoding), "invalid_utf8" if encoding == "utf-16" else "invalid_json"


def _bom(rng: random.Random, i: int) -> tuple[bytes, str | None]:
    return b"\xef\xbb\xbf" + orjson.dumps(valid_message(rng, i)), None


def _latin1(rng: random.Random, i: int) -> tuple[bytes, str | None]:
    return '{"id": %d, "text": "café crème, très déçu"}'.encode("latin-1") % i, "invalid_utf8"


def _cesu(rng: random.Random, i: int) -> tuple[bytes, str | None]:
    # A surrogate pair encoded as two 3-byte sequences (CESU-8), and a lone escaped surrogate.
    if i % 2:
        return b'{"id": %d, "text": "emoji \xed\xa0\xbd\xed\xb8\x80"}' % i, "invalid_utf8"
    return b'{"id": %d, "text": "lone \\ud800 surrogate"}' % i, "invalid_json"


def _huge_text(rng: random.Random, i: int) -> tuple[bytes, str | None]:
    text = " ".join(rng.choice(WORDS) for _ in range(20_000))[:100_000]
    return orjson.dumps({"id": f"h-{i}", "text": text}), None


def _large(rng: random.Random, i: int) -> tuple[bytes, str | None]:
    """Large messages: now and then about 1 MB (the broker's default limit), as one long text
    or 1,000 wide fields, whose enriched record (the input kept whole) exceeds
    MAX_RECORD_BYTES; otherwise 300 wide fields, which fit."""
    if (i // len(KINDS)) % 8:
        fields = {f"f{n}": "x" * 990 for n in range(300)}
        return orjson.dumps({"id": f"l-{i}", "text": "wide but fine", **fields}), None
    if i % 2:
        return orjson.dumps({"id": i, "text": "Kindle " * 140_000}), "record_too_large"
    fields = {f"f{n}": "x" * 990 for n in range(1_000)}
    return orjson.dumps({"id": i, "text": "wide", **fields}), "record_too_large"


def _odd_text(rng: random.Random, i: int) -> tuple[bytes, str | None]:
    return orjson.dumps({"id": f"o-{i}", "text": ODD_TEXTS[i % len(ODD_TEXTS)]}), None


def _random_bytes(rng: random.Random, i: int) -> tuple[bytes, str | None]:
    return bytes(rng.randrange(256) for _ in range(rng.randint(1, 200))), ANY


def _as_any(make: Callable[[random.Random, int], bytes]):
    return lambda rng, i: (make(rng, i), ANY)


KINDS: dict[str, Callable[[random.Random, int], tuple[bytes, str | None]]] = {
    "random_bytes": _random_bytes,
    "truncated_json": _as_any(_truncated),
    "bit_flipped_json": _as_any(_bit_flipped),
    "id_of_every_type": _id_of_type,
    "huge_int_id": _huge_int_id,
    "text_of_every_type": _text_of_type,
    "huge_array": _huge_array,
    "deep_nesting": _deep,
    "duplicate_keys": _duplicate_keys,
    "non_finite_numbers": _non_finite,
    "utf16": _utf16,
    "utf8_bom": _bom,
    "latin1": _latin1,
    "cesu_surrogates": _cesu,
    "huge_text": _huge_text,
    "large_message": _large,
    "rtl_and_control": _odd_text,
}


def fuzz_cases(n_valid: int, n_hostile: int, seed: int = 17) -> list[Case]:
    """`n_valid` valid messages and `n_hostile` hostile ones (kinds in turn), shuffled."""
    rng = random.Random(seed)
    cases: list[Case] = [
        ("valid", orjson.dumps(valid_message(rng, i)), None) for i in range(n_valid)
    ]
    kinds = list(KINDS.items())
    for i in range(n_hostile):
        kind, make = kinds[i % len(kinds)]
        value, expected = make(rng, i)
        cases.append((kind, value, expected))
    rng.shuffle(cases)
    return cases
