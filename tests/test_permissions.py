"""The plugin's pages respect Datasette's permissions: real Datasette, the real fixture database.

Runs on Datasette 0.65 and on the 1.0 alpha (tests/test_datasette_versions.py). Datasette 0.65 takes
``allow`` blocks in its metadata, 1.0 in its configuration.
"""

import shutil

import datasette
import pytest
from datasette.app import Datasette

DATASETTE_1 = datasette.__version__.startswith("1.")
ADMIN = {"id": "admin"}
DENYING = {
    "database": {"databases": {"claude": {"allow": ADMIN}}},
    "execute-sql": {"databases": {"claude": {"allow_sql": ADMIN}}},
    "instance": {"allow": ADMIN},
}


def serve(paths, config):
    paths = [str(p) for p in paths]
    return Datasette(paths, config=config) if DATASETTE_1 else Datasette(paths, metadata=config)


def admin_cookies(ds):
    return {"ds_actor": ds.sign({"a": ADMIN}, "actor")}


@pytest.mark.parametrize("denied", DENYING)
async def test_overview_is_forbidden_to_whom_the_database_is(fixture_db, denied):
    ds = serve([fixture_db], DENYING[denied])
    page = await ds.client.get("/-/claude")
    assert page.status_code == 403
    assert "Forbidden" in page.text  # Datasette's own forbidden page
    assert "$" not in page.text and "claude-figure" not in page.text
    allowed = await ds.client.get("/-/claude?days=3660", cookies=admin_cookies(ds))
    assert allowed.status_code == 200
    assert "$12.77" in allowed.text and allowed.text.count('<svg class="claude-chart"') == 6


@pytest.mark.parametrize("denied", DENYING)
@pytest.mark.parametrize("path", ["/-/claude/report/daily", "/-/claude/report/session.json", "/-/claude/report/blocks"])
async def test_report_pages_are_forbidden_to_whom_the_database_is(fixture_db, denied, path):
    ds = serve([fixture_db], DENYING[denied])
    page = await ds.client.get(path)
    assert page.status_code == 403 and "$" not in page.text and "totalCost" not in page.text
    allowed = await ds.client.get(path, cookies=admin_cookies(ds))
    assert allowed.status_code == 200 and ("$12.77" in allowed.text or "12.77" in allowed.text)


async def test_a_database_allow_decides_over_the_instance_as_on_datasettes_pages(fixture_db):
    ds = serve([fixture_db], {"allow": ADMIN, "databases": {"claude": {"allow": True}}})
    assert (await ds.client.get("/")).status_code == 403
    assert (await ds.client.get("/claude")).status_code == 200
    assert (await ds.client.get("/-/claude")).status_code == 200


def _copies(fixture_db, tmp_path, *names):
    paths = []
    for name in names:
        shutil.copy(fixture_db, tmp_path / f"{name}.db")
        paths.append(tmp_path / f"{name}.db")
    return paths


async def test_picker_lists_only_the_databases_the_actor_may_see(fixture_db, tmp_path):
    paths = _copies(fixture_db, tmp_path, "secret", "work", "home", "nosql")
    ds = serve(paths, {"databases": {"secret": {"allow": ADMIN}, "nosql": {"allow_sql": ADMIN}}})
    page = await ds.client.get("/-/claude")
    assert page.status_code == 200
    assert "What your agents did: work" in page.text  # the first one the visitor may see, not secret
    assert "<option selected>work</option><option>home</option></select>" in page.text
    assert "secret" not in page.text and "nosql" not in page.text
    assert (await ds.client.get("/-/claude?db=home")).status_code == 200
    for forbidden in ("secret", "nosql"):
        refused = await ds.client.get(f"/-/claude?db={forbidden}")
        assert refused.status_code == 403 and "claude-figure" not in refused.text
    admin = await ds.client.get("/-/claude?db=secret", cookies=admin_cookies(ds))
    assert admin.status_code == 200 and "What your agents did: secret" in admin.text
    assert "<option selected>secret</option><option>work</option><option>home</option><option>nosql</option>" in admin.text


async def test_overview_is_forbidden_when_no_database_may_be_seen(fixture_db, tmp_path):
    paths = _copies(fixture_db, tmp_path, "one", "two")
    ds = serve(paths, {"databases": {"one": {"allow": ADMIN}, "two": {"allow": ADMIN}}})
    assert (await ds.client.get("/-/claude")).status_code == 403
    assert (await ds.client.get("/-/claude?db=two", cookies=admin_cookies(ds))).status_code == 200


MENU_LINK = '<a href="/-/claude">Agent overview</a>'


@pytest.mark.parametrize("denied", DENYING)
async def test_menu_link_shows_only_to_whom_may_open_the_page(fixture_db, denied):
    ds = serve([fixture_db], DENYING[denied])
    # the instance-denied visitor sees only the forbidden page, which has the menu too
    anonymous = await ds.client.get("/" if denied != "instance" else "/-/claude")
    assert anonymous.status_code == (200 if denied != "instance" else 403)
    assert "Agent overview" not in anonymous.text
    assert "claude-home" not in anonymous.text  # nor the home page's link
    admin = await ds.client.get("/", cookies=admin_cookies(ds))
    assert MENU_LINK in admin.text
    assert 'class="claude-home"' in admin.text and "what your coding agents did in claude:" in admin.text


async def test_menu_link_shows_when_one_of_several_databases_may_be_seen(fixture_db, tmp_path):
    paths = _copies(fixture_db, tmp_path, "secret", "work")
    ds = serve(paths, {"databases": {"secret": {"allow": ADMIN}}})
    home = (await ds.client.get("/")).text
    assert MENU_LINK in home
    assert "what your coding agents did in work:" in home  # the home page names only what they may see
    ds = serve(paths, {"databases": {"secret": {"allow": ADMIN}, "work": {"allow": ADMIN}}})
    assert "Agent overview" not in (await ds.client.get("/")).text
