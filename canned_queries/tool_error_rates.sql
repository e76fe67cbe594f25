-- title: Tool error rates
-- description: >-
--   Calls, failures and failure rate per tool over a date range (and, optionally, one project):
--   which tools fail, and how often. A failure is a tool result marked as an error (a non-zero
--   exit code, a missing file, a rejected edit, a denied or interrupted call).
--   Machine and account narrow to one machine's sessions, or one Claude Code config directory's.
-- params: [start, end, project, agent, machine, account, min_calls]
-- hints: {min_calls: 'tools with at least this many calls (default 1)'}
-- chart: {type: bars, label: tool_name, y: error_rate_pct, unit: '%', note: '{failures} of {calls} calls'}
-- hide_sql: true
select
  t.tool_name,
  sum(t.calls) as calls,
  sum(t.failures) as failures,
  round(100.0 * sum(t.failures) / sum(t.calls), 1) as error_rate_pct,
  sum(t.interrupted) as interrupted,
  count(distinct t.session_id) as sessions
from tool_daily t
where t.day >= coalesce(nullif(:start, ''), '0000')
  and t.day <= coalesce(nullif(:end, ''), '9999')
  and (coalesce(:project, '') = ''
       or t.session_id in (select id from sessions where project_path = :project or project_path like (case when substr(:project, 1, 1) = '/' then rtrim(:project, '/') || '/%' else '%' || :project || '%' end)))
  and (coalesce(:agent, '') = '' or t.session_id in (select id from sessions where source = :agent))
  and (coalesce(:machine, '') = '' or t.session_id in (select id from sessions where host = :machine))
  and (coalesce(:account, '') = '' or t.session_id in (select id from sessions where account = :account))
group by t.tool_name
having sum(t.calls) >= coalesce(cast(nullif(:min_calls, '') as integer), 1)
order by failures desc, calls desc
