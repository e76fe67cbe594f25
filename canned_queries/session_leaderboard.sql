-- title: Session leaderboard
-- description: >-
--   Sessions ranked by estimated cost (or, with order_by, by tool_calls, errors or duration), with
--   their tool calls, failed calls, compactions and subagents. Sessions started within the date range;
--   agent (claude, codex, gemini, opencode, opencode-go, crush) narrows to one agent's sessions.
--   Machine and account narrow to one machine's sessions, or one Claude Code config directory's.
-- params: [start, end, project, agent, machine, account, order_by]
-- choices: {order_by: ['', tool_calls, errors, duration]}
-- hints: {order_by: 'cost (the default), tool_calls, errors or duration'}
-- chart: {type: bars, label: session_id, y: cost_usd, unit: $, by_param: {order_by: {tool_calls: tool_calls, errors: errors, duration: duration_min}}}
-- hide_sql: true
with chosen as (
  select id, source, project_path, coalesce(label, title, summary) as title, model, started_at, ended_at
  from sessions
  where started_at >= coalesce(nullif(:start, ''), '0000')
    and started_at < coalesce(date(nullif(:end, ''), '+1 day'), '9999')
    and (coalesce(:project, '') = '' or project_path = :project or project_path like (case when substr(:project, 1, 1) = '/' then rtrim(:project, '/') || '/%' else '%' || :project || '%' end))
    and (coalesce(:agent, '') = '' or source = :agent)
    and (coalesce(:machine, '') = '' or host = :machine)
    and (coalesce(:account, '') = '' or account = :account)
),
usage as (
  select u.session_id, sum(u.requests) as requests, sum(u.total_tokens) as tokens, sum(u.cost_usd) as cost_usd
  from usage_daily u join chosen on chosen.id = u.session_id
  group by u.session_id
),
calls as (
  select t.session_id, sum(t.calls) as tool_calls, sum(t.failures) as errors
  from tool_daily t join chosen on chosen.id = t.session_id
  group by t.session_id
)
select
  chosen.id as session_id,
  chosen.source as agent,
  chosen.project_path as project,
  chosen.model,
  chosen.started_at,
  round((julianday(chosen.ended_at) - julianday(chosen.started_at)) * 1440, 1) as duration_min,
  coalesce(usage.requests, 0) as requests,
  coalesce(usage.tokens, 0) as tokens,
  round(coalesce(usage.cost_usd, 0), 4) as cost_usd,
  coalesce(calls.tool_calls, 0) as tool_calls,
  coalesce(calls.errors, 0) as errors,
  (select count(*) from compactions c where c.session_id = chosen.id) as compactions,
  (select count(*) from subagents a where a.session_id = chosen.id) as subagents
from chosen
left join usage on usage.session_id = chosen.id
left join calls on calls.session_id = chosen.id
order by
  case coalesce(:order_by, '')
    when 'tool_calls' then coalesce(calls.tool_calls, 0)
    when 'errors' then coalesce(calls.errors, 0)
    when 'duration' then julianday(chosen.ended_at) - julianday(chosen.started_at)
    else coalesce(usage.cost_usd, 0)
  end desc
limit 100
