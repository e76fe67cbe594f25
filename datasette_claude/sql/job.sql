-- The job page's queries (datasette_claude/pages/job.py), one per "-- name:" block; :job_id is bound.

-- name: job
select j.*, s.label as session_label, s.project_path
  from jobs j left join sessions s on s.id = j.session_id
 where j.id = :job_id

-- name: reused_by
-- The runs that reused this one's prompt.
select id, status, started_at, coalesce(total_cost_usd, cost_usd) as cost_usd from jobs where reuse_of = :job_id
 order by started_at

-- name: chain
-- The prompt's history: this run, the one it reused, the one that one reused, back to the first.
with recursive up(id, reuse_of, depth) as (
  select id, reuse_of, 0 from jobs where id = :job_id
  union all
  select j.id, j.reuse_of, up.depth + 1 from jobs j join up on j.id = up.reuse_of where up.depth < 50
)
select j.id, j.status, j.started_at, up.depth from up join jobs j on j.id = up.id order by up.depth desc

-- name: tool_calls
-- What the run did, as its stream showed it (a json result shows no calls).
select tool_use_id, tool_name, file_path, command, description, is_error, substr(error_message, 1, 300) as error_head,
       duration_ms, started_at, agent_id
  from tool_calls
 where session_id = :session_id
 order by coalesce(started_at, ended_at)
 limit 500

-- name: file_touches
-- Per file the run modified: how often agents touched it, in all sessions (its hot-files row).
select file_path, sum(touches) as touches, sum(edits) as edits, count(distinct session_id) as sessions
  from file_daily
 where file_path in (select value from json_each(:files))
 group by file_path
