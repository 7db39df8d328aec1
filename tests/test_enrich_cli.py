"""`feedback enrich`: the worker's processing over a file, with the real default model."""

from __future__ import annotations

import os
import subprocess
import sys

import orjson

from stream.contracts import validator
from tests.conftest import ROOT


def test_enrich_file_writes_schema_valid_records_and_reports_bad_lines(model_store, tmp_path):
    lines = [
        orjson.dumps({"id": 1, "text": "My Galaxy Tab S9 arrived broken, Samsung never replied."}),
        b"{not json",
        orjson.dumps({"id": 2, "text": "Love the new Kindle Paperwhite!", "channel": "review"}),
        b"",
        orjson.dumps({"id": 3, "text": ""}),
        orjson.dumps({"id": 4, "text": "How do I export my data from Notion?"}),
    ]
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\n")
    out, dlq = tmp_path / "out.jsonl", tmp_path / "dlq.jsonl"
    env = {**os.environ, "MODEL_STORE": str(model_store)}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "stream.cli",
            "enrich",
            str(source),
            "-o",
            str(out),
            "--dead-letters",
            str(dlq),
            "--no-progress",
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    records = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert [r["id"] for r in records] == [1, 2, 4]
    for record in records:
        validator("enriched").validate(record)
    assert records[1]["channel"] == "review"
    assert records[1]["enrichment"]["sentiment"]["label"] == "positive"
    assert any(e["label"] == "PRODUCT" for e in records[0]["enrichment"]["entities"])
    letters = [orjson.loads(line) for line in dlq.read_bytes().splitlines()]
    assert [d["reason"] for d in letters] == ["invalid_json", "empty_text"]
    assert "line 2: invalid_json" in result.stderr and "line 5: empty_text" in result.stderr
    assert "3 enriched, 2 rejected" in result.stdout
