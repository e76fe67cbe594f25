"""The commit just made in a git repository, as a ``commits`` row (for a post-commit hook).

Reads git's own output (``git log -1``, ``git diff-tree``) for the repository at ``cwd``; the session
that was active there, if any, is matched in the database by the caller.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from .common import utc_timestamp


def _git(cwd: Path, *args: str) -> str:
    out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10)
    if out.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {out.stderr.strip()}")
    return out.stdout


def head_commit(cwd: Path, rev: str = "HEAD") -> dict:
    repository = _git(cwd, "rev-parse", "--show-toplevel").strip()
    sha, name, email, date, message = _git(cwd, "log", "-1", "--format=%H%x00%an%x00%ae%x00%cI%x00%B", rev).split(
        "\x00", 4)
    branch = _git(cwd, "rev-parse", "--abbrev-ref", "HEAD").strip()
    files = [f for f in _git(cwd, "diff-tree", "--no-commit-id", "--name-only", "-r", "-z", "--root", rev).split(
        "\x00") if f]
    return {
        "sha": sha.strip(),
        "repository": repository,
        "branch": None if branch == "HEAD" else branch,
        "author_name": name,
        "author_email": email,
        "committed_at": utc_timestamp(date),
        "message": message.strip(),
        "files_json": json.dumps(files, ensure_ascii=False),
        "files_changed": len(files),
    }
