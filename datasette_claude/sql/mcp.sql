-- The MCP tools' queries (datasette_claude/mcp.py), one per "-- name:" block. Every value comes in
-- as a bound parameter. :match is an FTS5 query the tool builds (each word quoted); :since an ISO
-- time or day ('' for none); :project the project rule of every canned query (a path starting
-- with / is that directory and below it, other text any part of a path); :agent a sessions.source.

-- name: search_prompts
select p.id, coalesce(p.uuid, p.id) as anchor, p.session_id, null as agent_id, p.timestamp,
       snippet(prompts_fts, 0, '[', ']', '…', 16) as match
  from prompts_fts
  join prompts p on p.rowid = prompts_fts.rowid
 where prompts_fts match :match
   and (:since = '' or p.timestamp >= :since)
   and (:project = '' and :agent = '' or p.session_id in (
        select id from sessions
         where (:project = '' or project_path = :project or project_path like (case when substr(:project, 1, 1) = '/'
                then rtrim(:project, '/') || '/%' else '%' || :project || '%' end))
           and (:agent = '' or source = :agent)))
 order by p.timestamp desc
 limit :limit

-- name: search_tool_calls
-- A call's command and its error are one row of tool_calls_fts: a call is found once.
select t.tool_use_id, t.tool_use_id as anchor, t.session_id, t.agent_id, coalesce(t.started_at, t.ended_at) as timestamp,
       t.tool_name, t.is_error, substr(t.command, 1, 300) as command, t.file_path,
       snippet(tool_calls_fts, -1, '[', ']', '…', 16) as match
  from tool_calls_fts
  join tool_calls t on t.rowid = tool_calls_fts.rowid
 where tool_calls_fts match :match
   and (:since = '' or coalesce(t.started_at, t.ended_at) >= :since)
   and (:project = '' and :agent = '' or t.session_id in (
        select id from sessions
         where (:project = '' or project_path = :project or project_path like (case when substr(:project, 1, 1) = '/'
                then rtrim(:project, '/') || '/%' else '%' || :project || '%' end))
           and (:agent = '' or source = :agent)))
 order by coalesce(t.started_at, t.ended_at) desc
 limit :limit

-- name: search_errors
select e.id, e.id as anchor, e.session_id, e.agent_id, e.timestamp, e.kind, e.status,
       snippet(errors_fts, 0, '[', ']', '…', 16) as match
  from errors_fts
  join errors e on e.rowid = errors_fts.rowid
 where errors_fts match :match
   and (:since = '' or e.timestamp >= :since)
   and (:project = '' and :agent = '' or e.session_id in (
        select id from sessions
         where (:project = '' or project_path = :project or project_path like (case when substr(:project, 1, 1) = '/'
                then rtrim(:project, '/') || '/%' else '%' || :project || '%' end))
           and (:agent = '' or source = :agent)))
 order by e.timestamp desc
 limit :limit

-- name: sessions
-- What a link to each session says, and where it ran (their ids in :ids, a JSON array).
select id, label, project_path, source, started_at, ended_at from sessions
 where id in (select value from json_each(:ids))

-- name: find_session
-- A session by its id, or by the start of it (eight characters or more, one session only).
select id from sessions where id = :session_id
union all
select id from (select id from sessions where id like :prefix || '%' escape '\' limit 2)
 where length(:prefix) >= 8 and not exists (select 1 from sessions where id = :session_id)
limit 2

-- name: session_prompts
select coalesce(uuid, id) as anchor, timestamp, substr(text, 1, :chars) as text, length(text) as chars
  from prompts
 where session_id = :session_id
 order by timestamp
 limit :limit

-- name: session_prompt_count
select count(*) as n from prompts where session_id = :session_id

-- name: session_tools
select tool_name, count(*) as calls, coalesce(sum(is_error), 0) as failures,
       sum(agent_id is not null) as in_subagents
  from tool_calls
 where session_id = :session_id
 group by tool_name
 order by calls desc, tool_name

-- name: session_files
-- Files the session changed (any operation but a read), the most changed first; reads are counted.
select file_path, sum(operation != 'read') as changes, sum(operation = 'read') as reads,
       group_concat(distinct case when operation != 'read' then operation end) as operations,
       max(timestamp) as last_at
  from file_events
 where session_id = :session_id
 group by file_path
having changes > 0
 order by changes desc, file_path
 limit :limit

-- name: session_file_counts
select count(distinct case when operation != 'read' then file_path end) as changed,
       count(distinct case when operation = 'read' then file_path end) as read
  from file_events
 where session_id = :session_id

-- name: session_failures
select tool_use_id as anchor, agent_id, coalesce(started_at, ended_at) as timestamp, tool_name,
       substr(command, 1, 200) as command, file_path, substr(error_message, 1, :chars) as error
  from tool_calls
 where session_id = :session_id and is_error = 1
 order by coalesce(started_at, ended_at)
 limit :limit

-- name: session_errors
select id as anchor, agent_id, timestamp, kind, status, substr(message, 1, :chars) as message
  from errors
 where session_id = :session_id
 order by timestamp
 limit :limit

-- name: session_compactions
select id as anchor, agent_id, timestamp, trigger, pre_tokens, post_tokens
  from compactions
 where session_id = :session_id
 order by timestamp
 limit :limit

-- name: session_subagents
select agent_id, agent_type, substr(description, 1, 200) as description, started_at, ended_at,
       (select count(*) from tool_calls t where t.session_id = a.session_id and t.agent_id = a.agent_id) as tool_calls
  from subagents a
 where session_id = :session_id
 order by started_at
 limit :limit

-- name: session_commits
select sha, committed_at, substr(message, 1, 200) as message, files_changed, branch
  from commits
 where session_id = :session_id
 order by committed_at
 limit :limit

-- name: session_claude_code_cost
-- Claude Code's own running total for the session, where its statusline was recorded.
select total_cost_usd from statusline_snapshots
 where session_id = :session_id and total_cost_usd is not null
 order by captured_at desc
 limit 1

-- name: file_path
-- The files a path names, from the per-day rollup (its file_path index; kept after prune): the file
-- as given, or (file_paths_ending) every file whose path ends with it as whole path parts (:suffix
-- is '/' || the path, its LIKE wildcards escaped).
select distinct file_path from file_daily where file_path = :path

-- name: file_paths_ending
select distinct file_path from file_daily where file_path like '%' || :suffix escape '\' order by file_path limit :limit

-- name: file_sessions
-- Per session, what it did to the files (their paths in :files, a JSON array), the latest first: the
-- counts by operation and its latest event (SQLite takes the bare columns from the row of max()),
-- with the number of sessions in all.
select f.session_id, count(*) as events, sum(f.operation = 'read') as reads,
       sum(f.operation = 'edit') as edits, sum(f.operation = 'write') as writes,
       sum(f.operation = 'create') as creates, sum(f.operation = 'delete') as deletes,
       min(f.timestamp) as first_at, max(f.timestamp) as last_at,
       f.tool_use_id as last_tool_use_id, f.agent_id as last_agent_id, f.operation as last_operation,
       f.tool_name as last_tool, f.file_path as last_file, count(*) over () as sessions_total
  from file_events f
 where f.file_path in (select value from json_each(:files))
   and (:since = '' or f.timestamp >= :since)
   and (:project = '' and :agent = '' or f.session_id in (
        select id from sessions
         where (:project = '' or project_path = :project or project_path like (case when substr(:project, 1, 1) = '/'
                then rtrim(:project, '/') || '/%' else '%' || :project || '%' end))
           and (:agent = '' or source = :agent)))
 group by f.session_id
 order by last_at desc
 limit :limit

-- name: file_failures
-- In each of the sessions listed (:ids, a JSON array), the calls on the files that failed: how many,
-- and the latest with what it said.
select f.session_id, count(*) as failures, f.tool_use_id, f.agent_id, t.tool_name, max(f.timestamp) as timestamp,
       substr(t.error_message, 1, :chars) as error
  from file_events f
  join tool_calls t on t.tool_use_id = f.tool_use_id
 where f.file_path in (select value from json_each(:files))
   and f.session_id in (select value from json_each(:ids))
   and (:since = '' or f.timestamp >= :since)
   and t.is_error = 1
 group by f.session_id

-- name: file_commits
-- Commits recorded with the files among their changed files (files_json: paths in the repository).
select c.sha, c.committed_at, substr(c.message, 1, 200) as message, c.session_id, c.repository, j.value as path
  from commits c, json_each(case when json_valid(c.files_json) then c.files_json else '[]' end) j
 where rtrim(c.repository, '/') || '/' || j.value in (select value from json_each(:files))
 order by c.committed_at desc
 limit :limit
