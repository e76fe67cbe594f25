"""``claude-ingest statusline``: Claude Code's ``statusLine`` command.

Claude Code runs it after every assistant message (debounced at 300 ms, cancelled when the next update
comes) with a JSON payload on stdin, and shows what it prints. So it obeys the hook's rules
(:mod:`ingest.load.hooks`): it always exits 0, prints nothing but its line, is bounded in time,
spools the snapshot when the database is busy, and imports neither click nor sqlite-utils. It:

* records the payload as a ``statusline_snapshots`` row (:mod:`ingest.parse.statusline`);
* prints one line: today's spend, this session's (Claude Code's own figure), the 5-hour and 7-day
  limits used where the plan has them, and the context left;
* with ``--chain COMMAND`` (the user's own ``statusLine`` command, which ``install-hooks
  --statusline`` keeps this way), runs it on the same payload and prints what it printed instead,
  followed by our line with ``--show-ours``. Theirs starts first and runs while we write.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import sys
import time
from pathlib import Path

from .. import store as store_mod
from ..clock import now_iso
from ..identity import host
from ..parse import statusline as parser
from . import hooks as hook_mod

DEADLINE_S = 4  # all of it, the user's own command included; Claude Code cancels a slow one anyway
CHAIN_TIMEOUT_S = 3.0  # the user's command: what it printed by then is shown
REPLAY_BUDGET_S = 0.2  # replaying snapshots spooled while the database was busy
READ_TIMEOUT_S = 0.5  # the line's query waits this long for a lock (a VACUUM), then does without it


def write_snapshot(conn: sqlite3.Connection, raw: bytes, received_at: str, *, source: str = "statusline",
                   event_id: str | None = None, size: int | None = None) -> bool:
    """Store one payload's snapshot (and what it says of its session) in one transaction. False when
    it says nothing we keep (no session id, not JSON)."""
    payload = hook_mod._loads(raw)
    if not isinstance(payload, dict):
        return False
    records = parser.records(payload, received_at, host(), payload=raw.decode("utf-8", "replace"))
    if not records:
        return False
    store = store_mod.Store(conn)
    with store.atomic():
        store.write(records)
    return True


STATUSLINE = hook_mod.EventSink("statusline", write_snapshot, spool_suffix=".statusline",
                                replay_source="statusline-spool")


# -- the line --------------------------------------------------------------------------------------
def local_day_start(now: float | None = None) -> str:
    """This machine's midnight today, as the database keeps times (UTC)."""
    t = time.localtime(now)
    midnight = time.mktime((t.tm_year, t.tm_mon, t.tm_mday, 0, 0, 0, 0, 0, -1))
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(midnight))


# Today's spend, per session the larger of two records: Claude Code's own (the rises of its
# statusline total_cost_usd since midnight; a fall is a session that started over) and the archive's
# (transcript responses priced from the price tables). Either can lag the other: a session whose
# transcript is not ingested yet, or one that ran without this statusline.
TODAY_SQL = """
with snaps as (
  select session_id, captured_at, total_cost_usd,
         lag(total_cost_usd) over (partition by session_id order by captured_at) as before
    from statusline_snapshots
   where total_cost_usd is not null
     and session_id in (select session_id from statusline_snapshots where captured_at >= :start)
),
claude_code as (
  select session_id, sum(case when before is null or total_cost_usd < before then total_cost_usd
                              else total_cost_usd - before end) as cost
    from snaps where captured_at >= :start group by session_id
),
archive as (
  select session_id, sum(cost_usd) as cost from api_requests
   where timestamp >= :start and is_replay = 0 and session_id is not null group by session_id
)
select total(max(coalesce(c.cost, 0), coalesce(a.cost, 0)))
  from (select session_id from claude_code union select session_id from archive) s
  left join claude_code c on c.session_id = s.session_id
  left join archive a on a.session_id = s.session_id"""


def today_cost(db, start: str | None = None) -> float | None:
    """Spend since ``start`` (default: local midnight today) from the archive (see TODAY_SQL), on an
    open connection or a database path (opened read-only); None when it cannot be read now."""
    if isinstance(db, sqlite3.Connection):
        try:
            return db.execute(TODAY_SQL, {"start": start or local_day_start()}).fetchone()[0]
        except sqlite3.Error:
            return None
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=READ_TIMEOUT_S)
    except sqlite3.Error:
        return None
    try:
        return today_cost(conn, start)
    finally:
        conn.close()


def record(raw: bytes, db_path: Path, received_at: str, size: int | None = None) -> tuple[str, float | None]:
    """Store one payload's snapshot as ``hook.handle`` stores an event (or spool it), then read
    today's spend on the same connection: ('stored' | 'duplicate' | 'spooled' | 'lost', spend)."""
    db_path = Path(hook_mod.spool_mod.db_key(db_path))

    def spool_it(e: BaseException) -> str:
        reason = f"{type(e).__name__}: {e}"[:200]
        return "spooled" if hook_mod.spool(db_path, raw, received_at, STATUSLINE, reason=reason, size=size) else "lost"

    try:
        conn = store_mod.connect(db_path, timeout=hook_mod.BUSY_TIMEOUT_S)
    except (sqlite3.Error, OSError) as e:
        return spool_it(e), today_cost(db_path)
    try:
        try:
            outcome = "stored" if write_snapshot(conn, raw, received_at, size=size) else "duplicate"
        except (sqlite3.Error, OSError) as e:
            return spool_it(e), today_cost(conn)
        try:
            hook_mod.replay_spool(conn, db_path, STATUSLINE, budget=REPLAY_BUDGET_S)
        except (sqlite3.Error, OSError):
            pass  # the spool stays for the next run
        return outcome, today_cost(conn)
    finally:
        conn.close()


def _money(value: float) -> str:
    return f"${value:,.2f}" if value >= 0.995 or value == 0 else f"${value:.3f}".rstrip("0")


def _resets(epoch) -> str:
    """`` (resets 14:05)`` in local time, the weekday too when it is not today."""
    epoch = parser.number(epoch)
    if epoch is None:
        return ""
    try:
        local = time.localtime(epoch)
    except (ValueError, OverflowError, OSError):
        return ""
    same_day = local[:3] == time.localtime()[:3]
    return f" (resets {time.strftime('%H:%M' if same_day else '%a %H:%M', local)})"


def line(payload: dict, today: float | None) -> str:
    """The one line ours prints: ``$4.21 today · $1.37 session · 5h 42% (resets 14:05) · 7d 18% ·
    63% context left``; parts the payload or the archive do not have are left out."""
    row = parser.snapshot(payload, now_iso()) or {}
    parts = []
    if today is not None:
        parts.append(f"{_money(today)} today")
    if row.get("total_cost_usd") is not None:
        parts.append(f"{_money(row['total_cost_usd'])} session")
    if row.get("five_hour_pct") is not None:
        five = payload["rate_limits"]["five_hour"]
        parts.append(f"5h {row['five_hour_pct']:.0f}%{_resets(five.get('resets_at'))}")
    if row.get("seven_day_pct") is not None:
        parts.append(f"7d {row['seven_day_pct']:.0f}%")
    if row.get("context_used_pct") is not None:
        parts.append(f"{max(0.0, 100 - row['context_used_pct']):.0f}% context left")
    return " · ".join(parts) or "claude-ingest"


# -- the command -----------------------------------------------------------------------------------
def _args(argv: list[str]) -> tuple[Path, str | None, bool]:
    chain, show_ours = None, False
    for i, arg in enumerate(argv):
        if arg == "--chain" and i + 1 < len(argv):
            chain = argv[i + 1]
        elif arg.startswith("--chain="):
            chain = arg[len("--chain="):]
        elif arg == "--show-ours":
            show_ours = True
    return hook_mod._parse_db(argv), chain, show_ours


def _start(command: str):
    import subprocess

    try:  # as Claude Code runs a statusLine command: through the shell, the payload on stdin
        return subprocess.Popen(command, shell=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, start_new_session=True)
    except OSError:
        return None


def _finish(proc, deadline: float) -> str | None:
    """What the user's command printed (its last newline dropped); None if it printed nothing in time."""
    import subprocess

    try:
        out, _ = proc.communicate(timeout=max(0.05, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            proc.kill()
        out, _ = proc.communicate()
    except OSError:
        return None
    text = out.decode("utf-8", "replace").rstrip("\n")
    return text or None


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``claude-ingest statusline [--db PATH] [--chain COMMAND] [--show-ours]``:
    always 0, and nothing on stdout but the status line."""
    argv = argv if argv is not None else sys.argv[2:]
    debug = os.environ.get(hook_mod.DEBUG_ENV) == "1"
    started = time.monotonic()
    received_at = now_iso()
    reader = hook_mod.PayloadReader(hook_mod._stdin_fd(), limit=1 << 20)
    raw, payload, theirs, proc, today, recorded = b"", {}, None, None, None, False
    db_path, chain, show_ours = _args(argv)

    def deadline(signum, frame):
        raise hook_mod._Deadline()

    try:
        if hasattr(signal, "SIGALRM"):
            signal.signal(signal.SIGALRM, deadline)
            signal.alarm(DEADLINE_S)
        raw = reader.read()
        proc = _start(chain) if chain else None
        if proc is not None:  # theirs gets the payload at once and runs while ours writes
            try:
                proc.stdin.write(raw)
                proc.stdin.close()
            except OSError:
                pass
        loaded = hook_mod._loads(raw)
        payload = loaded if isinstance(loaded, dict) else {}
        outcome, today = record(raw, db_path, received_at, size=reader.total)
        recorded = True
        if debug:
            print(f"claude-ingest statusline: {outcome} ({db_path})", file=sys.stderr)
        if proc is not None:
            proc.stdin = None  # written and closed above
            theirs = _finish(proc, started + CHAIN_TIMEOUT_S)
    except BaseException as e:  # noqa: BLE001 - nothing may escape into Claude Code's status line
        if debug:
            import traceback

            traceback.print_exception(e, file=sys.stderr)
    try:
        ours = None
        if not chain or show_ours or theirs is None:
            ours = line(payload, today if recorded else today_cost(db_path))
        out = "\n".join(x for x in (theirs, ours) if x)
        sys.stdout.write(out + "\n")
        sys.stdout.flush()
    except BaseException as e:  # noqa: BLE001
        if debug:
            import traceback

            traceback.print_exception(e, file=sys.stderr)
    finally:
        if hasattr(signal, "SIGALRM"):
            signal.alarm(0)
    return 0


__all__ = ["main", "write_snapshot", "line", "today_cost", "STATUSLINE"]
