"""The plugin's tests again, on the Datasette 1.0 alpha, in a virtual environment made for it.

The main run uses the Datasette that `pip install datasette` gives (0.65); this test builds (once,
then reuses) `.cache/venv-datasette-1.0` with the latest 1.0 alpha as of this writing and runs
tests/test_plugin.py and tests/test_browser.py there. It needs the package registry the first time.
"""

import os
import subprocess
import sys
from pathlib import Path

import datasette
import pytest

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".cache" / "venv-datasette-1.0"
# The latest 1.0 alpha on 2026-11-21; bump it deliberately, the alphas change plugin APIs.
REQUIREMENTS = ["datasette==1.0a41", "datasette-vega", "sqlite-utils", "click", "PyYAML", "orjson", "pytest",
                "pytest-asyncio", "playwright", "genai-prices",
                "opentelemetry-proto", "opentelemetry-sdk", "opentelemetry-exporter-otlp-proto-http", "httpx",
                "datasette-mcp"]
TESTS = ["tests/test_plugin.py", "tests/test_permissions.py", "tests/test_browser.py", "tests/test_session_page.py",
         "tests/test_agents_plugin.py", "tests/test_otel.py", "tests/test_reconciliation.py", "tests/test_report_pages.py",
         "tests/test_mcp.py", "tests/test_team_server.py", "tests/test_machines.py"]


def _python() -> Path:
    return VENV / "bin" / "python"


def _ensure_venv() -> Path:
    marker = VENV / "requirements.txt"
    wanted = "\n".join(REQUIREMENTS)
    if not (marker.exists() and marker.read_text() == wanted and _python().exists()):
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
        subprocess.run([str(_python()), "-m", "pip", "install", "-q", *REQUIREMENTS], check=True, timeout=900)
        marker.write_text(wanted)
    # the project itself, without its dependencies (those above pin the alpha)
    subprocess.run([str(_python()), "-m", "pip", "install", "-q", "--no-deps", "-e", str(ROOT)], check=True,
                   timeout=300, capture_output=True)
    return _python()


@pytest.mark.skipif(datasette.__version__.startswith("1."), reason="already running on Datasette 1.0")
def test_plugin_tests_pass_on_datasette_1_alpha():
    python = _ensure_venv()
    version = subprocess.run([str(python), "-c", "import datasette; print(datasette.__version__)"],
                             capture_output=True, text=True, check=True).stdout.strip()
    assert version.startswith("1.0a")
    # Chromium's singleton socket lives in TMPDIR, whose path must stay short (a Unix socket's is 108
    # bytes at most): this test's own deep temp directory is not for the run inside.
    env = {**os.environ, "TMPDIR": "/tmp"}
    run = subprocess.run([str(python), "-m", "pytest", *TESTS, "-q", "-p", "no:cacheprovider", "-rs"],
                         cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and "failed" not in run.stdout
