"""Keeping a database healthy: ``status`` (what is in it and how ingest is wired up), ``prune`` (old
detail rows out, the daily rollups kept) and ``reprice`` (costs again from a price table).

Library functions return plain dicts (what ``--json`` prints); ``*_text`` functions render them for
people. Every problem with what the caller asked for is an :class:`OpsError`, which the command line
turns into a message and exit status 2. None of them creates a database that is not there.
"""

from __future__ import annotations

import json
import shlex
import sqlite3
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from . import numbers, pricing, schema
from . import store as store_mod
from .clock import now_iso
from .errors import IngestError


class OpsError(IngestError):
    """Bad input to an operation (no such database, a malformed price table, a bad date)."""


def _existing(db) -> Path:
    """The database file (of a path, or of an open connection); never created here."""
    conn = getattr(db, "conn", db)
    if isinstance(conn, sqlite3.Connection):
        return store_mod.path_of(conn)
    path = Path(db).expanduser()
    if not path.is_file():
        raise OpsError(f"no database at {path} (nothing to do; `claude-ingest backfill --db {path}` creates it)")
    return path


def _sizes(path: Path) -> dict:
    wal = path.with_name(path.name + "-wal")
    file_bytes = path.stat().st_size if path.exists() else 0
    wal_bytes = wal.stat().st_size if wal.exists() else 0
    return {"file_bytes": file_bytes, "wal_bytes": wal_bytes, "total_bytes": file_bytes + wal_bytes}


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("bytes", "KB", "MB", "GB"):
        if abs(size) < 1024 or unit == "GB":
            return f"{n:,} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def _tables(conn) -> list[str]:
    """User tables, full-text indexes and their shadow tables left out: the schema's order first."""
    found = conn.execute("select name, sql from sqlite_master where type = 'table' and name not like 'sqlite_%'")
    found = dict(found.fetchall())
    virtual = [n for n, sql in found.items() if (sql or "").upper().startswith("CREATE VIRTUAL TABLE")]
    plain = [n for n in found if n not in virtual and not any(n.startswith(v + "_") for v in virtual)]
    return [t for t in schema.TABLES if t in plain] + sorted(t for t in plain if t not in schema.TABLES)


# -- status ------------------------------------------------------------------------------------
# The newest thing each source wrote: (name, tables it reads, SQL). Hook and OpenCode events share
# hook_events and are told apart by their stored source (see _newest_events).
NEWEST = (
    ("transcript_line", ("messages", "sessions"),
     "select max((select max(timestamp) from messages m where m.session_id = s.id)) "
     "from sessions s where s.source = 'claude'"),
    ("api_request", ("api_requests",), "select max(timestamp) from api_requests"),
    ("job", ("jobs",), "select max(coalesce(completed_at, started_at, recorded_at)) from jobs"),
    ("opencode_session", ("sessions",),
     "select max(coalesce(ended_at, started_at)) from sessions where source = 'opencode'"),
    ("commit", ("commits",), "select max(committed_at) from commits"),
)
RECENT_RUNS = 5


def status(db_path, *, git_repo: Path | None = None, settings: Path | None = None,
           runs: int = RECENT_RUNS) -> dict:
    """Everything ``claude-ingest status`` reports, as a dict that stays stable for scripts."""
    path = _existing(db_path)
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as e:
        raise OpsError(f"cannot open {path}: {e}") from e
    try:
        try:
            tables = _tables(conn)
            version = conn.execute("pragma user_version").fetchone()[0]
            present = set(tables)
            counts = {t: conn.execute(f"select count(*) from [{t}]").fetchone()[0] for t in tables}
            newest = {name: (conn.execute(sql).fetchone()[0] if set(needs) <= present else None)
                      for name, needs, sql in NEWEST}
            newest.update(_newest_events(conn) if "hook_events" in present else
                          {"hook_event": None, "opencode_event": None})
            unpriced = {
                table: dict(conn.execute(
                    f"select coalesce(model, '(none)'), count(*) from [{table}] where priced = 0 "
                    f"group by 1 order by 2 desc, 1").fetchall()) if table in present else {}
                for table in ("api_requests", "jobs")
            }
            merged = []
            if "merge_sources" in present:  # the archives merged into this one, latest first
                conn.row_factory = sqlite3.Row
                merged = [dict(r) for r in conn.execute(
                    "select path, host, schema_version, sessions, first_merged_at, last_merged_at from merge_sources "
                    "order by last_merged_at desc")]
                conn.row_factory = None
            recent = []
            if "ingest_runs" in present:
                conn.row_factory = sqlite3.Row
                recent = [dict(r) for r in conn.execute(
                    "select id, command, started_at, ended_at, seconds, files_read, files_skipped, lines, "
                    "bad_lines, status from ingest_runs order by started_at desc limit ?", (runs,))]
        except sqlite3.DatabaseError as e:  # not a database, truncated, corrupt
            raise OpsError(store_mod.database_problem(path, e) + _spooled_note(path)) from e
    finally:
        conn.close()
    return {
        "database": {"path": str(path.resolve()), **_sizes(path), "schema_version": version,
                     "schema_version_current": schema.SCHEMA_VERSION},
        "tables": counts,
        "newest": {name: newest[name] for name in (
            "transcript_line", "api_request", "hook_event", "job", "opencode_session", "opencode_event", "commit")},
        "hooks": hooks_status(path, git_repo=git_repo, settings=settings),
        "spool": spool_backlog(path),
        "unpriced_models": unpriced,
        "merged_archives": merged,
        "ingest_runs": recent,
    }


def _spooled_note(path: Path) -> str:
    """What hooks could not store in an unusable database, and why: they spool until it is usable."""
    spool = spool_backlog(path)
    waiting = spool["hook"] + spool["opencode"]
    if not waiting:
        return ""
    why = "; ".join(f"{reason} ({n:,})" for reason, n in sorted(spool["reasons"].items()))
    return f"; {waiting:,} events from hooks are spooled for it, waiting (spooled because: {why})"


def _newest_events(conn) -> dict:
    """Newest hook and OpenCode event: per event name its newest row (the (event, received_at)
    index answers both without reading the payloads), sorted by that row's source."""
    out = {"hook_event": None, "opencode_event": None}
    for event, newest in conn.execute("select event, max(received_at) from hook_events group by event").fetchall():
        (source,) = conn.execute("select source from hook_events where event = ? and received_at = ? limit 1",
                                 (event, newest)).fetchone() or (None,)
        kind = "opencode_event" if (source or "").startswith("opencode") else "hook_event"
        if newest is not None and (out[kind] is None or newest > out[kind]):
            out[kind] = newest
    return out


def _handler_db(command: str) -> Path:
    from .paths import default_db_path

    try:
        words = shlex.split(command)
    except ValueError:
        words = []
    for i, word in enumerate(words):
        if word == "--db" and i + 1 < len(words):
            return Path(words[i + 1]).expanduser().resolve()
        if word.startswith("--db="):
            return Path(word[5:]).expanduser().resolve()
    return default_db_path().resolve()


def hooks_status(db_path: Path, *, git_repo: Path | None = None, settings: Path | None = None) -> dict:
    """Claude Code's user settings: how many of the events install-hooks covers have our handler, and
    which databases those handlers write to; the OpenCode plugin; a repository's post-commit block."""
    from . import install

    path = install.settings_path(settings=settings)
    claude = {"settings": str(path), "events": len(install.HOOK_EVENTS), "installed": 0, "missing": [],
              "databases": [], "this_database": False, "error": None}
    try:
        data = install.read_settings(path)
    except install.SettingsError as e:
        data, claude["error"] = {}, str(e)
    hooks = data.get("hooks") if isinstance(data.get("hooks"), dict) else {}
    targets = set()
    for event in install.HOOK_EVENTS:
        groups = hooks.get(event) if isinstance(hooks.get(event), list) else []
        ours = [h for g in groups if isinstance(g, dict) and isinstance(g.get("hooks"), list)
                for h in g["hooks"] if install.is_ours(h)]
        if ours:
            claude["installed"] += 1
            targets.update(_handler_db(h["command"]) for h in ours)
        else:
            claude["missing"].append(event)
    claude["databases"] = sorted(map(str, targets))
    claude["this_database"] = targets == {Path(db_path).resolve()}
    # http hooks posting to a team server (install-hooks --remote): per URL, the events they cover
    remote: dict[str, int] = {}
    for event in install.HOOK_EVENTS:
        groups = hooks.get(event) if isinstance(hooks.get(event), list) else []
        for url in {h["url"] for g in groups if isinstance(g, dict) and isinstance(g.get("hooks"), list)
                    for h in g["hooks"] if install.is_our_remote(h)}:
            remote[url] = remote.get(url, 0) + 1
    claude["remote"] = [{"url": url, "installed": n} for url, n in sorted(remote.items())]

    plugin = install.opencode_plugins_dir() / install.OPENCODE_PLUGIN_NAME
    try:
        plugin_ours = plugin.is_file() and plugin.read_text().startswith("// claude-ingest:")
    except OSError:
        plugin_ours = False
    out = {"claude_code": claude, "opencode_plugin": {"path": str(plugin), "installed": plugin_ours}, "git": None}
    if git_repo is not None:
        git = {"repository": str(Path(git_repo).resolve()), "hook": None, "installed": False, "error": None}
        try:
            hook = install.git_hooks_dir(Path(git_repo).resolve()) / "post-commit"
            git["hook"] = str(hook)
            git["installed"] = hook.is_file() and install.GIT_BEGIN in hook.read_text()
        except (install.SettingsError, OSError) as e:
            git["error"] = str(e)
        out["git"] = git
    return out


def spool_backlog(db_path: Path) -> dict:
    """Events spooled for this database and not yet replayed (claimed batches included), per sink;
    entries set aside after failing to replay; and why the events had to be spooled."""
    from .load import spool

    out = {"hook": 0, "opencode": 0, "http_hook": 0, "set_aside": {"hook": 0, "opencode": 0, "http_hook": 0},
           "reasons": {}, "files": []}
    for name, suffix in (("hook", ""), ("opencode", ".opencode"), ("http_hook", ".http-hook")):
        found = spool.backlog(db_path, suffix)
        out[name] = found["waiting"]
        out["set_aside"][name] = found["set_aside"]
        for reason, n in found["reasons"].items():
            out["reasons"][reason] = out["reasons"].get(reason, 0) + n
        out["files"] += [{**f, "sink": name} for f in found["files"]]
    return out


def _ago(ts: str | None) -> str:
    if not ts:
        return "none"
    try:
        then = datetime.fromisoformat(ts.replace("Z", "+00:00"))
        if then.tzinfo is None:
            then = then.replace(tzinfo=timezone.utc)
    except ValueError:
        return ts
    seconds = (datetime.now(timezone.utc) - then).total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{ts}  ({int(seconds // size)} {unit} ago)"
    return f"{ts}  (just now)"


def status_text(s: dict) -> str:
    db, hooks = s["database"], s["hooks"]
    lines = [f"database   {db['path']}",
             f"size       {human_bytes(db['total_bytes'])} (file {human_bytes(db['file_bytes'])}, "
             f"WAL {human_bytes(db['wal_bytes'])}); schema version {db['schema_version']}"
             + ("" if db["schema_version"] >= db["schema_version_current"]
                else f" (this claude-ingest writes {db['schema_version_current']}; the next ingest upgrades it)"),
             "", "rows"]
    width = max([len(t) for t in s["tables"]] + [20])
    lines += [f"  {t:<{width}}  {n:>12,}" for t, n in s["tables"].items()]
    lines += ["", "newest"]
    lines += [f"  {name.replace('_', ' '):<{width}}  {_ago(ts)}" for name, ts in s["newest"].items()]
    claude = hooks["claude_code"]
    if claude["error"]:
        cc = f"unreadable settings: {claude['error']}"
    else:
        cc = f"{claude['installed']}/{claude['events']} events ({claude['settings']})"
        if claude["installed"] and not claude["this_database"]:
            cc += f"; writing to {', '.join(claude['databases'])}, not this database"
    lines += ["", "hooks", f"  {'Claude Code':<{width}}  {cc}"]
    lines += [f"  {'Claude Code (http)':<{width}}  {r['installed']}/{claude['events']} events posting to {r['url']}"
              for r in claude.get("remote", [])]
    plugin = hooks["opencode_plugin"]
    lines.append(f"  {'OpenCode plugin':<{width}}  {'installed' if plugin['installed'] else 'not installed'} "
                 f"({plugin['path']})")
    if hooks["git"]:
        git = hooks["git"]
        state = git["error"] or (f"{'installed' if git['installed'] else 'not installed'} ({git['hook']})")
        lines.append(f"  {'git post-commit':<{width}}  {state}")
    spool = s["spool"]
    posted = (f", {spool['http_hook']:,} posted hook events (the next post to the server replays them)"
              if spool.get("http_hook") else "")
    lines += ["", f"spool backlog  {spool['hook']:,} hook events, {spool['opencode']:,} OpenCode events{posted}"
              + (" waiting (the next backfill or hook replays hook events; the next opencode or "
                 "opencode-event, OpenCode's)" if spool["hook"] or spool["opencode"] else "")]
    lines += [f"  spooled because: {reason} ({n:,})" for reason, n in sorted(spool["reasons"].items())]
    aside = spool["set_aside"]
    if aside["hook"] or aside["opencode"]:
        lines.append(f"  set aside      {aside['hook']:,} hook events, {aside['opencode']:,} OpenCode events failed "
                     f"to replay and are not retried (kept in the .failed.jsonl files below)")
    lines += [f"  {f['path']}  {f['events']:,}" for f in spool["files"]]
    lines += ["", "unpriced models"]
    unpriced = [(t, m, n) for t, models in s["unpriced_models"].items() for m, n in models.items()]
    lines += [f"  {t:<14}{m:<{max(len(m) for _, m, _ in unpriced)}}  {n:>10,}" for t, m, n in unpriced] or ["  none"]
    if s.get("merged_archives"):
        lines += ["", "merged archives"]
        lines += [f"  {m['last_merged_at'] or '?':<26}{m['host'] or '?':<22}{m['sessions'] or 0:>6,} sessions  "
                  f"schema {m['schema_version']}  {m['path']}" for m in s["merged_archives"]]
    lines += ["", "last ingest runs"]
    for r in s["ingest_runs"]:
        lines.append(f"  {r['started_at'] or '?':<26}{r['command'] or '?':<22}{r['files_read'] or 0:>6,} files read  "
                     f"{r['lines'] or 0:>10,} lines  {r['bad_lines'] or 0:>6,} bad lines  "
                     f"{r['seconds'] or 0:>8.2f} s  {r['status'] or ''}")
    if not s["ingest_runs"]:
        lines.append("  none")
    return "\n".join(lines)


# -- prune -------------------------------------------------------------------------------------
def before_day(before=None, keep_days: int | None = None, *, today: date | None = None) -> str:
    """The first day to keep, 'YYYY-MM-DD': ``before`` itself, or ``keep_days`` before today (UTC)."""
    if (before is None) == (keep_days is None):
        raise OpsError("give exactly one of --before DATE and --keep-days N")
    if keep_days is not None:
        if keep_days < 0:
            raise OpsError(f"--keep-days must be 0 or more, not {keep_days}")
        return ((today or datetime.now(timezone.utc).date()) - timedelta(days=keep_days)).isoformat()
    if isinstance(before, datetime):
        raise OpsError("--before takes a day (YYYY-MM-DD): whole days are pruned")
    if isinstance(before, date):
        return before.isoformat()
    text = str(before).strip()
    try:
        if len(text) != 10:
            raise ValueError
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise OpsError(f"--before takes a day as YYYY-MM-DD (whole days are pruned), not {before!r}") from None


def _fts_tables(tables) -> list[str]:
    return [t for t in tables if schema.TABLES[t].fts]


def _check_fts(conn, tables) -> list[str]:
    """Check each full-text index against its table (rank 1: compare with the content, not only the
    index's own structure); rebuild one that disagrees. Returns the ones rebuilt."""
    rebuilt = []
    for t in tables:
        fts = f"{t}_fts"
        if not conn.execute("select 1 from sqlite_master where name = ?", (fts,)).fetchone():
            continue
        try:
            conn.execute(f"insert into [{fts}]([{fts}], rank) values('integrity-check', 1)")
        except sqlite3.DatabaseError:
            conn.execute(f"insert into [{fts}]([{fts}]) values('rebuild')")
            rebuilt.append(fts)
    return rebuilt


def prune(db, before, *, dry_run: bool = False) -> dict:
    """Delete detail rows of the days before ``before`` ('YYYY-MM-DD') in one transaction, keep the
    daily rollups (brought up to date first), then VACUUM. ``dry_run`` counts and changes nothing.
    ``db``: a database path (which must exist) or an open connection."""
    before = before_day(before)
    path = _existing(db)
    size_before = _sizes(path)
    with store_mod.opened(db if not isinstance(db, (str, Path)) else path) as conn:
        tables = [t for t in schema.PRUNABLE if t in set(_tables(conn))]
        result = {"database": str(path.resolve()), "before": before, "dry_run": dry_run,
                  "size_before": size_before}
        if dry_run:
            result["rows"] = {t: conn.execute(f"select count(*) from [{t}] where {schema.PRUNABLE[t]} < ?",
                                              (before,)).fetchone()[0] for t in tables}
            return result
        with store_mod.transaction(conn):
            # The rollups already hold every day about to go (every ingest keeps them current for the
            # sessions it wrote); recomputing them from the detail first, for the sessions losing rows,
            # makes sure of it before the detail is gone for good.
            conn.execute("create temp table if not exists prune_sessions (session_id text primary key)")
            conn.execute("delete from temp.prune_sessions")
            for detail, day, _ in schema.ROLLUPS.values():
                if detail in tables:
                    conn.execute(f"insert or ignore into temp.prune_sessions select distinct session_id "
                                 f"from [{detail}] where session_id is not null and {day} < ?", (before,))
            schema.refresh_rollups(conn, sessions="select session_id from temp.prune_sessions")
            rows = {t: conn.execute(f"delete from [{t}] where {schema.PRUNABLE[t]} < ?", (before,)).rowcount
                    for t in tables}
            # from now on the days before this one are final (schema.PRUNED_BEFORE)
            conn.execute("insert into prunes (before, pruned_at, rows_json) values (?, ?, ?) "
                         "on conflict (before) do update set rows_json = excluded.rows_json",
                         (before, now_iso(), json.dumps(rows)))
            result["fts_rebuilt"] = _check_fts(conn, _fts_tables(tables))
        result["rows"] = rows
        result["vacuumed"] = False
        if any(rows.values()):
            try:
                conn.execute("vacuum")
                conn.execute("pragma wal_checkpoint(truncate)")
                result["vacuumed"] = True
            except sqlite3.OperationalError as e:  # busy: the deletion stands; space is reused later
                result["vacuum_error"] = str(e)
            result["fts_rebuilt"] += [f for f in _check_fts(conn, _fts_tables(tables))
                                      if f not in result["fts_rebuilt"]]
        result["rollups"] = {r: conn.execute(f"select count(*) from [{r}]").fetchone()[0] for r in schema.ROLLUPS}
    result["size_after"] = _sizes(path)
    result["bytes_reclaimed"] = size_before["total_bytes"] - result["size_after"]["total_bytes"]
    return result


def _rows_text(rows: dict) -> str:
    return ", ".join(f"{t} {n:,}" for t, n in rows.items() if n) or "nothing"


def prune_text(r: dict) -> str:
    if r["dry_run"]:
        return (f"prune {r['database']} (dry run): detail before {r['before']}: would delete "
                f"{_rows_text(r['rows'])}; nothing changed")
    line = f"prune {r['database']}: detail before {r['before']}: deleted {_rows_text(r['rows'])}"
    if r.get("vacuum_error"):
        line += f"; not vacuumed ({r['vacuum_error']})"
    line += (f"; {human_bytes(max(r['bytes_reclaimed'], 0))} reclaimed "
             f"({human_bytes(r['size_before']['total_bytes'])} -> {human_bytes(r['size_after']['total_bytes'])})")
    line += "; rollups kept: " + ", ".join(f"{t} {n:,}" for t, n in r["rollups"].items())
    if r["fts_rebuilt"]:
        line += f"; full-text indexes rebuilt: {', '.join(r['fts_rebuilt'])}"
    return line


# -- reprice -----------------------------------------------------------------------------------
_RATES = ("input", "output", "cache_write_5m", "cache_write_1h", "cache_read")


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0


def validate_prices(prices, where: str = "prices") -> None:
    """Raise OpsError listing what is wrong with a price table of ingest/data/prices.json's shape."""
    problems = []
    if not isinstance(prices, dict):
        raise OpsError(f"{where}: expected a JSON object with a \"models\" table")
    models = prices.get("models")
    if not isinstance(models, dict) or not models:
        problems.append('"models" must be an object of model name -> rates, with at least one model')
        models = {}
    for name, rates in models.items():
        if not isinstance(rates, dict):
            problems.append(f"models.{name}: expected an object of rates")
            continue
        if pricing.canonical_model(name) != name:
            problems.append(f"models.{name}: write the model as {pricing.canonical_model(name)!r} "
                            f"(lower case, no date or provider suffix), as lookups do")
        problems += [f"models.{name}.{k}: expected a number >= 0, got {rates.get(k)!r}"
                     for k in _RATES if not _number(rates.get(k))]
        if "fast_multiplier" in rates and not _number(rates["fast_multiplier"]):
            problems.append(f"models.{name}.fast_multiplier: expected a number >= 0")
        long = rates.get("long_context")
        if long is not None:
            if not isinstance(long, dict) or not all(_number(long.get(k)) for k in ("input", "output")):
                problems.append(f"models.{name}.long_context: expected input and output numbers >= 0")
            elif "until" in long and not isinstance(long["until"], str):
                problems.append(f"models.{name}.long_context.until: expected a date string")
    if "web_search_usd_per_request" in prices and not _number(prices["web_search_usd_per_request"]):
        problems.append("web_search_usd_per_request: expected a number >= 0")
    long = prices.get("long_context")
    if long is not None and (not isinstance(long, dict) or not _number(long.get("threshold_input_tokens", 0))):
        problems.append("long_context.threshold_input_tokens: expected a number >= 0")
    geo = prices.get("geo_us_multiplier")
    if geo is not None and (not isinstance(geo, dict) or not _number(geo.get("multiplier"))
                            or not isinstance(geo.get("models"), list)):
        problems.append("geo_us_multiplier: expected {\"multiplier\": number, \"models\": [names]}")
    if problems:
        raise OpsError(f"{where} is not a usable price table: " + "; ".join(problems))


def read_prices(prices_path=None) -> tuple[dict, str]:
    """The price table (the shipped one, or the file given, validated) and where it came from."""
    if prices_path is None:
        return pricing.load_prices(), str(pricing.PRICES_PATH)
    path = Path(prices_path).expanduser()
    try:
        prices = json.loads(path.read_text())
    except OSError as e:
        raise OpsError(f"cannot read {path}: {e.strerror or e}") from e
    except ValueError as e:
        raise OpsError(f"{path} is not JSON: {e}") from e
    validate_prices(prices, str(path))
    prices.setdefault("name", path.name)  # what each cost it gives records as its source
    return prices, str(path)


_REPRICE_COLUMNS = ("model", "source", "provider", "input_tokens", "output_tokens", "cache_creation_input_tokens",
                    "cache_creation_5m_tokens", "cache_creation_1h_tokens", "cache_read_input_tokens",
                    "web_search_requests", "speed", "inference_geo", "timestamp", "cost_usd", "priced", "price_source")
_TOTAL_COST = "select total(cost_usd) from api_requests where coalesce(is_replay, 0) = 0"
# The rollups that sum API requests' costs: what a reprice recomputes.
USAGE_ROLLUPS = [name for name, (detail, _, _) in schema.ROLLUPS.items() if detail == "api_requests"]


def _repriced(conn, prices: dict) -> tuple[int, list, int, int]:
    """Every API request's cost from ``prices`` (and genai-prices for the models they lack): how many
    there are, the (cost, priced, price source, rowid, cost changed?) of those whose cost or source
    changed, how many gained a price and how many lost theirs."""
    from .parse.opencode import opencode_price

    cols = ", ".join(f"[{c}]" for c in _REPRICE_COLUMNS)
    updates, requests, gained, lost = [], 0, 0, 0
    for (rowid, model, src, provider, inp, out, created, w5m, w1h, read, searches, speed, geo, ts, old, priced,
         old_source) in conn.execute(f"select rowid, {cols} from api_requests"):
        requests += 1
        usage = dict(input_tokens=inp, output_tokens=out, cache_creation_input_tokens=created,
                     cache_creation_5m_tokens=w5m, cache_creation_1h_tokens=w1h, cache_read_input_tokens=read,
                     web_search_requests=searches, speed=speed, inference_geo=geo, timestamp=ts)
        if src == "opencode":  # as each source prices at ingest
            cost, source = opencode_price(model, provider, prices=prices, **usage)
        else:
            cost, source = pricing.priced(model, prices=prices, **usage)
        now_priced = 0 if cost is None else 1
        if cost != old or now_priced != priced or source != old_source:
            # a cost from another table at the same price is the same cost, from a source of its own
            updates.append((cost, now_priced, source, rowid, cost != old or now_priced != priced))
            gained += now_priced == 1 and priced != 1
            lost += now_priced == 0 and priced == 1
    return requests, updates, gained, lost


def reprice(db, prices_path=None) -> dict:
    """Recompute api_requests.cost_usd and priced from a price table in one transaction, then the
    usage rollups (usage_daily, usage_15min) from the detail that is left. A model without a price gets NULL, never $0.
    ``db``: a database path (which must exist) or an open connection."""
    prices, source = read_prices(prices_path)
    path = _existing(db)
    with store_mod.opened(db if not isinstance(db, (str, Path)) else path) as conn, store_mod.transaction(conn):
        cost_before = conn.execute(_TOTAL_COST).fetchone()[0]
        requests, updates, gained, lost = _repriced(conn, prices)
        conn.executemany("update api_requests set cost_usd = ?, priced = ?, price_source = ? where rowid = ?",
                         [u[:4] for u in updates])
        schema.refresh_rollups(conn, USAGE_ROLLUPS)
        cost_after = conn.execute(_TOTAL_COST).fetchone()[0]
        unpriced = dict(conn.execute(
            "select coalesce(model, '(none)'), count(*) from api_requests where priced = 0 "
            "group by 1 order by 2 desc, 1").fetchall())
        # usage_daily rows of days pruned from the detail: nothing left to reprice them from
        frozen = conn.execute(f"""
select count(*) from usage_daily r
  left join (select session_id, min({schema.ROLLUPS['usage_daily'][1]}) as first_day from api_requests
              where session_id is not null group by session_id) f on f.session_id = r.session_id
 where f.first_day is null or r.day < max(f.first_day, {schema.PRUNED_BEFORE})""").fetchone()[0]
        jobs = conn.execute("select count(*) from jobs where cost_usd is not null or priced = 0").fetchone()[0]
    return {
        "database": str(path.resolve()), "prices": source, "prices_as_of": prices.get("as_of"),
        "requests": requests, "repriced": sum(u[4] for u in updates), "newly_priced": gained, "lost_price": lost,
        "cost_before_usd": cost_before, "cost_after_usd": cost_after, "unpriced_models": unpriced,
        "usage_daily_rows_of_pruned_days": frozen,
        # A job's estimate is made from its result's per-model usage (parse.jobs.estimate_cost),
        # which the jobs table does not keep: it holds run totals and one model. Left as they were.
        "jobs_estimates_kept": jobs,
    }


def _change(delta: float) -> str:
    """``+$0.0062``, ``-$1.20``, ``no change``: a difference of costs, small ones not rounded away."""
    if abs(delta) < 1e-9:
        return "no change"
    return ("+" if delta > 0 else "") + numbers.cost(delta)


def reprice_text(r: dict) -> str:
    table = r["prices"] + (f" (as of {r['prices_as_of']})" if r["prices_as_of"] else "")
    line = (f"reprice {r['database']} with {table}: {r['requests']:,} requests, {r['repriced']:,} repriced "
            f"({r['newly_priced']:,} newly priced, {r['lost_price']:,} lost their price); their total cost "
            f"{numbers.cost(r['cost_before_usd'])} -> {numbers.cost(r['cost_after_usd'])} "
            f"({_change(r['cost_after_usd'] - r['cost_before_usd'])}); "
            f"{' and '.join(USAGE_ROLLUPS)} recomputed")
    if r["usage_daily_rows_of_pruned_days"]:
        line += f" ({r['usage_daily_rows_of_pruned_days']:,} rows of pruned days keep their cost)"
    unpriced = ", ".join(f"{m} ({n:,})" for m, n in r["unpriced_models"].items()) or "none"
    line += f"; still unpriced: {unpriced}"
    if r["jobs_estimates_kept"]:
        line += (f"; jobs: {r['jobs_estimates_kept']:,} estimates left as they were (made from per-model "
                 f"usage the jobs table does not keep)")
    return line
