-- title: Jobs by tool
-- description: >-
--   Headless jobs that used a tool (Bash, Edit, an MCP tool, ...), with how often it ran and failed
--   in each job, newest first. Leave tool empty for every job with its primary tool.
-- params: [tool, start, end]
-- hints: {tool: 'a tool name, e.g. Bash'}
-- chart: {type: bars, label: job_id, y: calls, note: '{status}'}
-- hide_sql: true
select
  j.id as job_id,
  j.started_at,
  j.status,
  coalesce(nullif(:tool, ''), j.primary_tool) as tool,
  (select count(*) from tool_calls t
    where t.session_id = j.session_id and t.tool_name = coalesce(nullif(:tool, ''), j.primary_tool)) as calls,
  (select coalesce(sum(t.is_error), 0) from tool_calls t
    where t.session_id = j.session_id and t.tool_name = coalesce(nullif(:tool, ''), j.primary_tool)) as failed,
  j.tool_call_count,
  j.prompt,
  j.session_id,
  round(coalesce(j.total_cost_usd, j.cost_usd), 4) as cost_usd
from jobs j
where j.started_at >= coalesce(nullif(:start, ''), '0000')
  and j.started_at < coalesce(date(nullif(:end, ''), '+1 day'), '9999')
  and (coalesce(:tool, '') = ''
       or exists (select 1 from tool_calls t where t.session_id = j.session_id and t.tool_name = :tool))
order by j.started_at desc
limit 200
