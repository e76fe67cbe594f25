"""What the tests share: where the fixtures are, reading rows, copying trees, and running the
command line (in process with click's CliRunner, or as the real console script in a subprocess)."""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures"
PROJECTS = FIXTURES / "claude" / "projects"
EDGE = FIXTURES / "edge-cases"
EXPECTED = FIXTURES / "expected"
HOOKS = FIXTURES / "hooks"

# The hook commands run as the real console script unless a test asks for them in process: they are
# dispatched before click is imported, which only the console script shows.
_SUBPROCESS_ONLY = {"hook", "statusline", "opencode-event"}


def rows(db, sql, params=()):
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, params)]
    finally:
        conn.close()


def facts(conn, table: str) -> str:
    """``select`` list of a table's columns without its bookkeeping of this database's own writes
    (schema.BOOKKEEPING: when it first saw a session, the count of commits that wrote it), for tests
    that compare what two databases say happened."""
    from ingest import schema

    kept = [r[1] for r in conn.execute(f"pragma table_info([{table}])")
            if r[1] not in schema.BOOKKEEPING.get(table, ())]
    return ", ".join(f"[{c}]" for c in kept)


def copy_tree(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest)
    for p in dest.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    return dest


def environ(**extra) -> dict:
    """The environment the tests run in (see conftest's autouse fixture), with ``extra`` on top."""
    return {**os.environ, **{k: str(v) for k, v in extra.items()}}


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


def claude_ingest(*args, env=None, input=None, cwd=None, subprocess_: bool = False) -> Ran:
    """``claude-ingest ARGS``: in process through click's CliRunner (as sqlite-utils tests its CLI),
    or, for the hook commands and with ``subprocess_=True``, the real console entry point."""
    args = [str(a) for a in args]
    if subprocess_ or (args and args[0] in _SUBPROCESS_ONLY):
        r = subprocess.run([sys.executable, "-m", "ingest", *args], capture_output=True, text=True, env=env,
                           input=input, cwd=cwd, timeout=120)
        return Ran(r.returncode, r.stdout, r.stderr)
    from click.testing import CliRunner

    from ingest.cli import cli

    here = os.getcwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        result = CliRunner().invoke(cli, args, input=input, env=env, prog_name="claude-ingest",
                                    catch_exceptions=True)
    finally:
        os.chdir(here)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # a traceback the console script would print: the test must fail loudly
    return Ran(result.exit_code, result.stdout, result.stderr)


def load_expected(name):
    return json.loads((EXPECTED / name).read_text())


_ISO = re.compile(rb"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d{3})?Z")


def shift_times(src: Path, dest: Path, hours: int) -> Path:
    """A copy of a transcripts tree with every UTC time in it (``...T15:36:12.270Z``) moved by whole
    ``hours``, written as it was: the real sessions, happening at another time. Whole hours keep
    every 5-hour block's shape (blocks start on the hour)."""
    def move(m):
        t = datetime.strptime(m.group(1).decode(), "%Y-%m-%dT%H:%M:%S") + timedelta(hours=hours)
        return t.strftime("%Y-%m-%dT%H:%M:%S").encode() + (m.group(2) or b"") + b"Z"

    for path in src.rglob("*"):
        target = dest / path.relative_to(src)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(_ISO.sub(move, path.read_bytes()))
    return dest


# A hand-made edge case, made from a real transcript: the four API responses of tool_heavy.jsonl
# (2026-02-10, 22:57 UTC, so a block from 22:00 to 03:00) moved so that two fall exactly on the
# block's last millisecond and two start the next block in the same 15 minutes.
BOUNDARY_TIMES = ("2026-02-10T22:57:57.941Z", "2026-02-11T03:00:00.000Z", "2026-02-11T03:00:00.000Z",
                  "2026-02-11T03:07:12.345Z")


def boundary_transcript(dest: Path) -> Path:
    """``dest/projects/-edge-block-boundary/tool_heavy.jsonl``: see BOUNDARY_TIMES."""
    source = PROJECTS / "-Users-marot-spotter" / "tool_heavy.jsonl"
    order, lines = [], []
    for raw in source.read_text().splitlines():
        line = json.loads(raw)
        message = line.get("message") if isinstance(line.get("message"), dict) else {}
        if message.get("usage"):
            key = (message.get("id"), line.get("requestId"))
            if key not in order:
                order.append(key)
            line["timestamp"] = BOUNDARY_TIMES[order.index(key)]
        lines.append(json.dumps(line, ensure_ascii=False, separators=(",", ":")))  # as Claude Code writes
    target = dest / "projects" / "-edge-block-boundary" / "tool_heavy.jsonl"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("\n".join(lines) + "\n")
    return dest


SPOTTER_MAIN = "fa812bfe-b295-4cca-9c2f-fdf01028cb46"
SYNC_CUT_LINES = 900  # of the spotter session's 1,881 lines: the copy a second machine got mid-session


def two_machines(dest: Path) -> tuple[Path, Path]:
    """Two machines' Claude Code config directories made of the real fixture transcripts, overlapping
    as a synced ``~/.claude`` and a copied transcript make them: the laptop ran the spotter sessions
    (the long one with its subagents, and tool_heavy); the desktop has tool_heavy as it is (synced),
    the first SYNC_CUT_LINES lines of the long one (a hand-made cut of the real file: copied over while
    the session ran) and a session of its own (ai-music). Their union is the whole fixture set."""
    laptop, desktop = dest / "laptop" / ".claude", dest / "desktop" / ".claude"
    spotter = PROJECTS / "-Users-marot-spotter"
    copy_tree(spotter, laptop / "projects" / spotter.name)
    theirs = desktop / "projects" / spotter.name
    theirs.mkdir(parents=True)
    shutil.copy(spotter / "tool_heavy.jsonl", theirs / "tool_heavy.jsonl")
    lines = (spotter / f"{SPOTTER_MAIN}.jsonl").read_bytes().splitlines(keepends=True)
    (theirs / f"{SPOTTER_MAIN}.jsonl").write_bytes(b"".join(lines[:SYNC_CUT_LINES]))
    copy_tree(PROJECTS / "-Users-chip-dev-ai-music", desktop / "projects" / "-Users-chip-dev-ai-music")
    return laptop, desktop


def datasette_1() -> bool:
    import datasette

    return datasette.__version__.startswith("1.")


def plugin_config(tokens: dict) -> dict:
    """``Datasette(...)``'s keyword for the plugin's settings on this Datasette (metadata on 0.65,
    config on 1.0), holding the receivers' tokens (machine -> SHA-256 of its token)."""
    config = {"plugins": {"datasette-claude": {"tokens": tokens}}}
    return {"config": config} if datasette_1() else {"metadata": config}


def serve(dbs, tmp_path: Path, tokens: dict | None = None, *, config: dict | None = None, args=()):
    """``datasette DBS`` (a path or a list of them) as a real server on 127.0.0.1 (a free port), with
    the receivers' tokens, or ``config`` as the user's own settings, if given, and more command-line
    ``args``; (process, base URL). The caller terminates the process."""
    import socket
    import time
    import urllib.request

    if tokens:
        config = {"plugins": {"datasette-claude": {"tokens": tokens}}}
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    paths = [dbs] if isinstance(dbs, (str, Path)) else list(dbs)
    command = [sys.executable, "-m", "datasette", *map(str, paths), "-h", "127.0.0.1", "-p", str(port), *args]
    if config:
        path = tmp_path / f"config-{port}.json"
        path.write_text(json.dumps(config))
        command += ["-c" if datasette_1() else "-m", str(path)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    for _ in range(150):
        try:
            urllib.request.urlopen(url + "/-/versions.json", timeout=1)
            return proc, url
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("datasette did not start: " + proc.stderr.read().decode()[-2000:])


# -- ccusage's reports (tests/fixtures/expected/ccusage-*.json, made by make_ccusage_references.py) --
MANIFEST = json.loads((EXPECTED / "ccusage-references.json").read_text())
PLAIN = {name: ref for name, ref in MANIFEST["references"].items() if "now_ms" not in ref and "edge_case" not in ref}


def options(ref: dict) -> dict:
    """ccusage's arguments as report options."""
    out, args = {"timezone": ref["timezone"]}, list(ref["args"])
    names = {"--since": "since", "--until": "until", "--start-of-week": "start_of_week"}
    while args:
        arg = args.pop(0)
        if arg in names:
            out[names[arg]] = args.pop(0)
        else:
            assert arg == "--breakdown", arg  # JSON always has the breakdowns
    return out


def same(ours, theirs, path="$"):
    """Equal in shape and values; floats to 1e-9."""
    if isinstance(theirs, dict):
        assert isinstance(ours, dict) and set(ours) == set(theirs), (path, sorted(set(ours) ^ set(theirs or {})))
        for key in theirs:
            same(ours[key], theirs[key], f"{path}.{key}")
    elif isinstance(theirs, list):
        assert isinstance(ours, list) and len(ours) == len(theirs), (path, ours, theirs)
        for i, (a, b) in enumerate(zip(ours, theirs)):
            same(a, b, f"{path}[{i}]")
    elif isinstance(theirs, float) or isinstance(ours, float):
        import pytest

        assert ours == pytest.approx(theirs, abs=1e-9), path
    else:
        assert ours == theirs and type(ours) is type(theirs), (path, ours, theirs)


def file_names(db) -> dict:
    """Our session id -> ccusage's (the main transcript's file name; tool_heavy.jsonl's lines carry another)."""
    return {r["session_id"]: Path(r["path"]).stem
            for r in rows(db, "select session_id, path from ingest_files where kind = 'main'")}


def as_ccusage(db, result: dict) -> dict:
    from ingest import reports

    out = reports.ccusage_json(result)
    names = file_names(db)
    for s in out.get("sessions", []):
        s["sessionId"] = names.get(s["sessionId"], s["sessionId"])
    return out
