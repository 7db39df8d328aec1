"""`feedback enrich` never destroys the user's files and says plainly what is wrong.

Path mistakes are refused before the model loads: those tests point MODEL_STORE at an empty
folder with a MODEL_VERSION that does not exist, so a run that loaded the model would fail
differently. The tests that enrich use the real default model.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from stream.offline import enrich_file
from stream.processing import Limits
from tests.conftest import ROOT

GOOD = orjson.dumps({"id": 1, "text": "Love the new Kindle Paperwhite!"})
BAD = b"{not json"
EMPTY_TEXT = orjson.dumps({"id": 2, "text": ""})
GOOD_TOO = orjson.dumps({"id": 3, "text": "My Galaxy Tab S9 arrived broken."})
INPUT = b"\n".join([GOOD, BAD, GOOD_TOO]) + b"\n"


def run_enrich(
    args: list[str], cwd: Path, model_store: Path | None = None, **popen: object
) -> subprocess.CompletedProcess[str]:
    """`feedback enrich ARGS` in `cwd`; without `model_store`, loading a model would fail."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if model_store is None:
        env.update(MODEL_STORE=str(cwd / "empty-store"), MODEL_VERSION="never-loaded")
    else:
        env["MODEL_STORE"] = str(model_store)
        env.pop("MODEL_VERSION", None)
    popen.setdefault("capture_output", "stdout" not in popen)
    return subprocess.run(
        [sys.executable, "-m", "stream.cli", "enrich", *args],
        cwd=cwd,
        env=env,
        text=True,
        timeout=300,
        **popen,  # type: ignore[arg-type]
    )


def snapshot(folder: Path) -> dict[str, bytes | str]:
    """Every entry under `folder`: a file's bytes, a symlink's target, a folder's name."""
    entries: dict[str, bytes | str] = {}
    for path in sorted(folder.rglob("*")):
        name = str(path.relative_to(folder))
        if path.is_symlink():
            entries[name] = f"-> {os.readlink(path)}"
        elif path.is_dir():
            entries[name] = "folder"
        else:
            entries[name] = path.read_bytes()
    return entries


def assert_one_error_line(result: subprocess.CompletedProcess[str], message: str) -> None:
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: "), result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr + (result.stdout or "")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """in.jsonl, a symlink and a hard link to it, a previous out.jsonl and a sub-folder."""
    (tmp_path / "in.jsonl").write_bytes(INPUT)
    (tmp_path / "link.jsonl").symlink_to("in.jsonl")
    os.link(tmp_path / "in.jsonl", tmp_path / "hard.jsonl")
    (tmp_path / "out.jsonl").write_bytes(b"previous output\n")
    (tmp_path / "sub").mkdir()
    return tmp_path


SAME_FILE = {
    "output is the input": (
        ["in.jsonl", "-o", "in.jsonl"],
        "--output in.jsonl is the input in.jsonl",
    ),
    "output is a symlink to the input": (
        ["in.jsonl", "-o", "link.jsonl"],
        "--output link.jsonl is the input in.jsonl",
    ),
    "input is a symlink to the output": (
        ["link.jsonl", "-o", "sub/../in.jsonl"],
        "--output sub/../in.jsonl is the input link.jsonl",
    ),
    "dead letters are a hard link to the input": (
        ["in.jsonl", "-o", "new.jsonl", "--dead-letters", "hard.jsonl"],
        "--dead-letters hard.jsonl is the input in.jsonl",
    ),
    "dead letters are the output": (
        ["in.jsonl", "-o", "new.jsonl", "--dead-letters", "./new.jsonl"],
        "--dead-letters new.jsonl is the same file as --output new.jsonl",
    ),
    "dead letters are the existing output": (
        ["in.jsonl", "-o", "out.jsonl", "--dead-letters", "sub/../out.jsonl"],
        "--dead-letters sub/../out.jsonl is the same file as --output out.jsonl",
    ),
    "both to stdout": (
        ["in.jsonl", "-o", "-", "--dead-letters", "-"],
        "--dead-letters - (stdout) is the same file as --output - (stdout)",
    ),
}


@pytest.mark.parametrize(("args", "message"), SAME_FILE.values(), ids=SAME_FILE.keys())
def test_refuses_to_write_over_the_input(folder: Path, args: list[str], message: str) -> None:
    before = snapshot(folder)
    result = run_enrich(args, folder)
    assert_one_error_line(result, message)
    assert "choose" in result.stderr
    assert snapshot(folder) == before


def test_refuses_an_output_that_is_stdin(folder: Path) -> None:
    before = snapshot(folder)
    with (folder / "in.jsonl").open("rb") as stdin:
        result = run_enrich(["-", "-o", "in.jsonl"], folder, stdin=stdin)
    assert_one_error_line(result, "--output in.jsonl is the input - (stdin)")
    assert snapshot(folder) == before


def test_refuses_stdout_appended_to_the_input(folder: Path) -> None:
    before = snapshot(folder)
    with (folder / "in.jsonl").open("ab") as stdout:
        result = run_enrich(["in.jsonl", "-o", "-"], folder, stdout=stdout, stderr=subprocess.PIPE)
    assert_one_error_line(result, "--output - (stdout) is the input in.jsonl")
    assert snapshot(folder) == before


PATH_MISTAKES = {
    "missing input": (
        ["missing.jsonl", "-o", "new.jsonl"],
        "error: input file missing.jsonl does not exist",
    ),
    "input is a folder": (["sub", "-o", "new.jsonl"], "error: input sub is a folder"),
    "input is a symlink loop": (
        ["loop.jsonl", "-o", "new.jsonl"],
        "error: cannot read input file loop.jsonl: Too many levels of symbolic links",
    ),
    "missing output folder": (
        ["in.jsonl", "-o", "missing/new.jsonl"],
        "error: --output missing/new.jsonl: folder missing does not exist",
    ),
    "missing dead-letters folder": (
        ["in.jsonl", "-o", "new.jsonl", "--dead-letters", "missing/dlq.jsonl"],
        "error: --dead-letters missing/dlq.jsonl: folder missing does not exist",
    ),
    "output is a folder": (["in.jsonl", "-o", "sub"], "error: --output sub is a folder"),
}


@pytest.mark.parametrize(("args", "message"), PATH_MISTAKES.values(), ids=PATH_MISTAKES.keys())
def test_path_mistakes_are_one_line_before_the_model_loads(
    folder: Path, args: list[str], message: str
) -> None:
    (folder / "loop.jsonl").symlink_to("loop.jsonl")
    before = snapshot(folder)
    result = run_enrich(args, folder)
    assert_one_error_line(result, message)
    assert snapshot(folder) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_unreadable_input_is_one_line(folder: Path) -> None:
    (folder / "in.jsonl").chmod(0)
    result = run_enrich(["in.jsonl", "-o", "new.jsonl"], folder)
    assert_one_error_line(result, "error: cannot read input file in.jsonl: permission denied")
    assert not (folder / "new.jsonl").exists()


def test_failure_mid_run_leaves_previous_outputs(folder: Path) -> None:
    """An error after some lines were written: the previous files stay, no temp file is left."""
    (folder / "dlq.jsonl").write_bytes(b"previous dead letters\n")
    (folder / "bad.jsonl").write_bytes(b"{one\n{two\n{three\n")
    before = snapshot(folder)

    class FailsOnLineTwo:
        def write(self, text: str) -> None:
            if text.startswith("line 2:"):
                raise RuntimeError("report failed")

        def flush(self) -> None:
            pass

    class NoModel:  # invalid lines never reach the model
        version = "none"

        def enrich(self, texts: list[str]) -> list[object]:
            raise AssertionError("the model was called")

    with pytest.raises(RuntimeError, match="report failed"):
        enrich_file(
            folder / "bad.jsonl",
            folder / "out.jsonl",
            NoModel(),
            Limits(),
            batch_size=1,
            dead_letters=folder / "dlq.jsonl",
            progress=False,
            report=FailsOnLineTwo(),  # type: ignore[arg-type]
        )
    assert snapshot(folder) == before


# --- With the real model --------------------------------------------------------------------


def test_line_numbers_agree_and_progress_counts_lines(model_store: Path, tmp_path: Path) -> None:
    lines = [b"\xef\xbb\xbf" + GOOD, BAD, b"", b"  ", EMPTY_TEXT, GOOD_TOO]  # a UTF-8 BOM first
    (tmp_path / "in.jsonl").write_bytes(b"\n".join(lines))  # no newline after the last line
    result = run_enrich(
        ["in.jsonl", "-o", "out.jsonl", "--dead-letters", "dlq.jsonl"], tmp_path, model_store
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    letters = [orjson.loads(line) for line in (tmp_path / "dlq.jsonl").read_bytes().splitlines()]
    assert [(d["reason"], d["source"]["offset"]) for d in letters] == [
        ("invalid_json", 2),
        ("empty_text", 5),
    ]
    assert {(d["source"]["topic"], d["source"]["partition"]) for d in letters} == {("in.jsonl", 0)}
    for letter in letters:
        offset, reason = letter["source"]["offset"], letter["reason"]
        assert f"line {offset}: {reason}: {letter['detail']}\n" in result.stderr
    records = [orjson.loads(line) for line in (tmp_path / "out.jsonl").read_bytes().splitlines()]
    assert [(r["id"], r["enrichment"]["source"]["offset"]) for r in records] == [(1, 1), (3, 6)]
    assert "6/6 [" in result.stderr and "line/s]" in result.stderr  # lines, not bytes
    assert "2 enriched, 2 rejected" in result.stdout


def test_stdin_to_stdout(model_store: Path, tmp_path: Path) -> None:
    result = run_enrich(
        ["-", "-o", "-", "--dead-letters", "dlq.jsonl"], tmp_path, model_store, input=INPUT.decode()
    )
    assert result.returncode == 0, result.stderr
    records = [orjson.loads(line) for line in result.stdout.splitlines()]  # only records
    sources = [(r["id"], r["enrichment"]["source"]) for r in records]
    assert [(i, s["topic"], s["offset"]) for i, s in sources] == [
        (1, "<stdin>", 1),
        (3, "<stdin>", 3),
    ]
    letter = orjson.loads((tmp_path / "dlq.jsonl").read_bytes())
    assert (letter["reason"], letter["source"]["offset"]) == ("invalid_json", 2)
    assert "line 2: invalid_json" in result.stderr
    assert re.search(r"2 enriched, 1 rejected \(1 invalid_json\) .* -> stdout\n", result.stderr)
    assert re.search(r"\b3line \[", result.stderr)  # progress in lines; no total for a stream
    assert "Traceback" not in result.stderr


def test_output_is_replaced_only_at_the_end(model_store: Path, folder: Path) -> None:
    """Through a symlink, the target is replaced; its permissions stay; no temp file is left."""
    (folder / "out.jsonl").chmod(0o640)
    (folder / "latest.jsonl").symlink_to("out.jsonl")
    result = run_enrich(["in.jsonl", "-o", "latest.jsonl", "--no-progress"], folder, model_store)
    assert result.returncode == 0, result.stderr
    assert (folder / "latest.jsonl").is_symlink()
    records = [orjson.loads(line) for line in (folder / "out.jsonl").read_bytes().splitlines()]
    assert [r["id"] for r in records] == [1, 3]
    assert (folder / "out.jsonl").stat().st_mode & 0o777 == 0o640
    assert (folder / "in.jsonl").read_bytes() == INPUT
    assert not list(folder.rglob("*.tmp"))


def ctrl_c_as_at_a_terminal() -> None:
    """In the child: SIGINT as a terminal delivers it. A job started in the background of a
    non-interactive shell (as CI may run pytest) inherits SIGINT ignored, and so would enrich."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_leaves_the_previous_output(model_store: Path, folder: Path) -> None:
    """Interrupted while reading stdin, after the temp file exists: the old output stays."""
    before = snapshot(folder)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MODEL_STORE": str(model_store)}
    env.pop("MODEL_VERSION", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "stream.cli", "enrich", "-", "-o", "out.jsonl"],
        cwd=folder,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=ctrl_c_as_at_a_terminal,
    )
    try:
        process.stdin.write(INPUT.decode())  # type: ignore[union-attr]
        process.stdin.flush()  # type: ignore[union-attr]
        deadline = time.monotonic() + 300  # the model loads first
        while not list(folder.glob(".out.jsonl.*.tmp")):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "no temp file appeared"
            time.sleep(0.1)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, stderr
    assert stderr.endswith("interrupted: out.jsonl left as before\n")
    assert "Traceback" not in stdout + stderr
    assert snapshot(folder) == before
