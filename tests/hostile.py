"""Generated hostile input: malformed and adversarial messages, each with what must happen."""

from __future__ import annotations

import random

import orjson

# (category, expected reason or None for "enriched")
Case = tuple[str, bytes, str | None]

NASTY_TEXTS = [
    "😀😡🔥 emoji only 👍🏽👨‍👩‍👧",
    "שלום, האפליקציה של Wix קורסת כל הזמן",  # right-to-left
    "مرحبا، الطلب من Amazon تأخر",
    "Ze\u0301\u0301\u0301\u0301ro combining marks on Samsung",
    "control \x01\x02\x07\x1b[31m chars in the Pixel 8 review",
    "NUL \x00 inside the text about Netflix",
    "\u202eright-to-left override\u202c on iPhone",
    "zero\u200bwidth\u200bspaces Tesla",
    "a" * 20_000,
    "Spotify " * 3000,
    "\ufeffBOM at the start, Dell laptop fine",
    "lone surrogates are impossible in valid UTF-8, so this is plain",
]


def hostile_cases(n: int = 1000, seed: int = 3) -> list[Case]:
    rng = random.Random(seed)
    makers = [
        ("invalid_json", lambda i: b'{"id": %d, "text": "unterminated' % i, "invalid_json"),
        ("trailing_garbage", lambda i: b'{"id": %d, "text": "x"}}' % i, "invalid_json"),
        ("not_object_list", lambda i: orjson.dumps([i, "text"]), "not_an_object"),
        ("not_object_str", lambda i: orjson.dumps(f"text {i}"), "not_an_object"),
        ("not_object_num", lambda i: b"%d" % i, "not_an_object"),
        ("missing_id", lambda i: orjson.dumps({"text": f"no id {i}"}), "missing_id"),
        ("null_id", lambda i: orjson.dumps({"id": None, "text": "t"}), "missing_id"),
        ("bad_id", lambda i: orjson.dumps({"id": [i], "text": "t"}), "invalid_id"),
        ("missing_text", lambda i: orjson.dumps({"id": i}), "missing_text"),
        ("null_text", lambda i: orjson.dumps({"id": i, "text": None}), "missing_text"),
        ("number_text", lambda i: orjson.dumps({"id": i, "text": i * 1.5}), "invalid_text"),
        ("object_text", lambda i: orjson.dumps({"id": i, "text": {"t": "x"}}), "invalid_text"),
        ("empty_text", lambda i: orjson.dumps({"id": i, "text": ""}), "empty_text"),
        ("blank_text", lambda i: orjson.dumps({"id": i, "text": "\n\t  \u3000"}), "empty_text"),
        ("invalid_utf8", lambda i: b'{"id": %d, "text": "caf\xe9 \xff"}' % i, "invalid_utf8"),
        ("binary", lambda i: bytes(rng.randrange(256) for _ in range(64)), None),  # decided below
        (
            "deep_nesting",
            lambda i: b'{"id": %d, "text": "x", "a": ' % i + b"[" * 2000 + b"]" * 2000 + b"}",
            "invalid_json",
        ),
        (
            "nested_ok",
            lambda i: orjson.dumps({"id": i, "text": "nested but fine", "a": [[[[{"b": [1]}]]]]}),
            None,
        ),
        (
            "huge_array",
            lambda i: orjson.dumps(
                {"id": i, "text": "big extra field", "xs": ["abcdefgh"] * 85_000}
            ),
            "record_too_large",
        ),
        (
            "reserved",
            lambda i: orjson.dumps({"id": i, "text": "t", "enrichment": "x"}),
            "reserved_field",
        ),
        (
            "unknown_fields",
            lambda i: orjson.dumps(
                {"id": i, "text": "Love my Kindle", "κλειδί": "τιμή", "n": None, "f": 1e300}
            ),
            None,
        ),
        ("duplicate_id", lambda i: orjson.dumps({"id": "dup", "text": f"same id {i}"}), None),
        (
            "nasty_text",
            lambda i: orjson.dumps({"id": i, "text": NASTY_TEXTS[i % len(NASTY_TEXTS)]}),
            None,
        ),
        (
            "huge_text",
            # 200k characters: analysed up to MAX_TEXT_CHARS, kept whole in the record.
            lambda i: orjson.dumps({"id": i, "text": "The Galaxy Tab S9 is great. " * 7_200}),
            None,
        ),
    ]
    cases: list[Case] = []
    for i in range(n):
        category, make, expected = makers[i % len(makers)]
        value = make(i)
        if category == "binary":
            expected = _binary_reason(value)
        cases.append((category, value, expected))
    rng.shuffle(cases)
    return cases


def _binary_reason(value: bytes) -> str:
    try:
        decoded = value.decode("utf-8")
    except UnicodeDecodeError:
        return "invalid_utf8"
    try:
        parsed = orjson.loads(decoded)
    except orjson.JSONDecodeError:
        return "invalid_json"
    return "not_an_object" if not isinstance(parsed, dict) else "missing_id"
