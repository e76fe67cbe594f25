"""Who may see the plugin's pages: the checks Datasette's own views make, on 0.65 and on 1.0.

Every page starts with one line, before it reads anything::

    await permissions.ensure_allowed(datasette, request, database, execute_sql=True)

``database`` is the database the page shows (``None`` for a page about the whole instance);
``execute_sql`` is for pages that run SQL of their own rather than a canned query's page. A denied
actor gets Datasette's own 403 (its ``forbidden`` hook and page). As on Datasette's database page, a
database's own ``allow`` decides over the instance's: Datasette 0.65 asks view-database, then
view-instance, and the first answer wins; Datasette 1.0 resolves both in its view-database rules.
"""

from __future__ import annotations

from datasette.utils.asgi import Forbidden

INSTANCE = "You do not have permission to view this instance"
DATABASE = "You do not have permission to view this database"
EXECUTE_SQL = "You do not have permission to run SQL on this database"


async def refusal(datasette, actor, database: str | None = None, *, execute_sql: bool = False) -> str | None:
    """Why ``actor`` may not see a page of ``database``, or None when they may."""
    if hasattr(datasette, "allowed"):
        return await _refusal_datasette_1(datasette, actor, database, execute_sql)
    return await _refusal_datasette_065(datasette, actor, database, execute_sql)


async def allowed(datasette, actor, database: str | None = None, *, execute_sql: bool = False) -> bool:
    return await refusal(datasette, actor, database, execute_sql=execute_sql) is None


async def ensure_allowed(datasette, request, database: str | None = None, *, execute_sql: bool = False) -> None:
    """Raise Datasette's Forbidden (a 403 page) unless the request's actor may see the page."""
    reason = await refusal(datasette, request.actor, database, execute_sql=execute_sql)
    if reason:
        raise Forbidden(reason)


async def _refusal_datasette_1(datasette, actor, database, execute_sql):
    # 1.0a41: datasette.allowed(action=, resource=, actor=), resources are objects
    from datasette.resources import DatabaseResource

    if database is None:
        return None if await datasette.allowed(action="view-instance", actor=actor) else INSTANCE
    resource = DatabaseResource(database=database)
    if not await datasette.allowed(action="view-database", resource=resource, actor=actor):
        return DATABASE
    if execute_sql and not await datasette.allowed(action="execute-sql", resource=resource, actor=actor):
        return EXECUTE_SQL
    return None


async def _refusal_datasette_065(datasette, actor, database, execute_sql):
    # 0.65: ensure_permissions(actor, [(action, resource), ...]) raises Forbidden; resources are names
    try:
        await datasette.ensure_permissions(actor, ["view-instance"] if database is None
                                           else [("view-database", database), "view-instance"])
    except Forbidden:
        return INSTANCE if database is None else DATABASE
    if execute_sql:
        try:
            await datasette.ensure_permissions(actor, [("execute-sql", database)])
        except Forbidden:
            return EXECUTE_SQL
    return None


QUERY = "You do not have permission to view this query"


async def ensure_query_allowed(datasette, request, database: str, query: str) -> None:
    """Raise Datasette's Forbidden unless the actor may see the canned query ``query`` of
    ``database``: what its own page asks (view-query, which view-database and view-instance decide
    where it says nothing), and no more (a canned query runs where execute-sql is denied)."""
    actor = request.actor
    if hasattr(datasette, "allowed"):
        from datasette.resources import QueryResource

        ok = await datasette.allowed(action="view-query", resource=QueryResource(database=database, query=query),
                                     actor=actor)
    else:
        try:
            await datasette.ensure_permissions(actor, [("view-query", (database, query)), ("view-database", database),
                                                       "view-instance"])
            ok = True
        except Forbidden:
            ok = False
    if not ok:
        raise Forbidden(QUERY)
