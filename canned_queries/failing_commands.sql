-- title: Failing commands
-- description: >-
--   Shell commands that fail most often, with how often they ran, their failure rate and the
--   latest error. search narrows to commands containing that text; agent (claude, codex, gemini, opencode, opencode-go, crush) narrows to one agent's sessions.
--   Machine and account narrow to one machine's sessions, or one Claude Code config directory's.
-- params: [start, end, project, agent, machine, account, search]
-- hints: {search: 'part of the command, e.g. pytest'}
-- chart: {type: bars, label: command, y: failures, note: '{failures} of {runs} runs'}
-- hide_sql: true
with runs as (
  select
    t.command,
    count(*) as runs,
    sum(t.is_error) as failures,
    max(case when t.is_error = 1 then t.ended_at end) as last_failed_at
  from tool_calls t
  where t.command is not null
    -- "+" keeps the planner on the index of calls with a command, read in command order
    and +t.started_at >= coalesce(nullif(:start, ''), '0000')
    and +t.started_at < coalesce(date(nullif(:end, ''), '+1 day'), '9999')
    and (coalesce(:search, '') = '' or t.command like '%' || :search || '%')
    and (coalesce(:project, '') = ''
         or t.session_id in (select id from sessions where project_path = :project or project_path like (case when substr(:project, 1, 1) = '/' then rtrim(:project, '/') || '/%' else '%' || :project || '%' end)))
    and (coalesce(:agent, '') = '' or t.session_id in (select id from sessions where source = :agent))
    and (coalesce(:machine, '') = '' or t.session_id in (select id from sessions where host = :machine))
    and (coalesce(:account, '') = '' or t.session_id in (select id from sessions where account = :account))
  group by t.command
  having sum(t.is_error) > 0
  order by failures desc, runs desc
  limit 100
)
select
  runs.command,
  runs.runs,
  runs.failures,
  round(100.0 * runs.failures / runs.runs, 1) as failure_rate_pct,
  runs.last_failed_at,
  (select e.error_message from tool_calls e
    where e.command = runs.command and e.is_error = 1 and e.ended_at = runs.last_failed_at limit 1) as last_error,
  -- the latest failure's card: the command links to it
  (select e.session_id from tool_calls e
    where e.command = runs.command and e.is_error = 1 and e.ended_at = runs.last_failed_at limit 1) as session_id,
  (select e.tool_use_id from tool_calls e
    where e.command = runs.command and e.is_error = 1 and e.ended_at = runs.last_failed_at limit 1) as tool_use_id
from runs
order by runs.failures desc, runs.runs desc
