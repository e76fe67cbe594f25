-- title: Agents side by side
-- description: >-
--   Per agent (claude, codex, gemini, opencode, crush, opencode-go) and UTC day: sessions, API
--   requests, tokens, estimated cost, requests with no price (counted apart, never as $0), the cost
--   the agents reported themselves where that is all they keep (Crush, the Go OpenCode), tool calls
--   and failed calls. agent narrows to one agent, project to projects whose path contains the text.
--   Machine and account narrow to one machine's sessions, or one Claude Code config directory's.
-- params: [start, end, project, agent, machine, account]
-- chart: {type: columns, x: day, y: total_tokens, series: agent}
-- hide_sql: true
with chosen as (
  select id, source from sessions
  where (coalesce(:agent, '') = '' or source = :agent)
    and (coalesce(:machine, '') = '' or host = :machine)
    and (coalesce(:account, '') = '' or account = :account)
    and (coalesce(:project, '') = '' or project_path = :project or project_path like (case when substr(:project, 1, 1) = '/' then rtrim(:project, '/') || '/%' else '%' || :project || '%' end))
),
usage as (
  select u.day, c.source, count(distinct u.session_id) as sessions, sum(u.requests) as requests,
         sum(u.total_tokens) as total_tokens, sum(u.output_tokens) as output_tokens, sum(u.cost_usd) as cost_usd,
         sum(u.unpriced_requests) as unpriced_requests
  from usage_daily u join chosen c on c.id = u.session_id
  where u.day >= coalesce(nullif(:start, ''), '0000') and u.day <= coalesce(nullif(:end, ''), '9999')
  group by u.day, c.source
),
calls as (
  select t.day, c.source, count(distinct t.session_id) as sessions, sum(t.calls) as tool_calls,
         sum(t.failures) as failed_tool_calls
  from tool_daily t join chosen c on c.id = t.session_id
  where t.day >= coalesce(nullif(:start, ''), '0000') and t.day <= coalesce(nullif(:end, ''), '9999')
  group by t.day, c.source
),
reported as (
  select date(s.started_at) as day, s.source, count(*) as sessions, sum(s.reported_cost_usd) as reported_cost_usd
  from sessions s join chosen c on c.id = s.id
  where s.reported_cost_usd is not null
    and date(s.started_at) >= coalesce(nullif(:start, ''), '0000')
    and date(s.started_at) <= coalesce(nullif(:end, ''), '9999')
  group by 1, 2
),
days as (
  select day, source from usage union select day, source from calls union select day, source from reported
)
select
  days.day,
  days.source as agent,
  max(coalesce(usage.sessions, 0), coalesce(calls.sessions, 0), coalesce(reported.sessions, 0)) as sessions,
  coalesce(usage.requests, 0) as requests,
  coalesce(usage.total_tokens, 0) as total_tokens,
  coalesce(usage.output_tokens, 0) as output_tokens,
  round(usage.cost_usd, 4) as cost_usd,
  coalesce(usage.unpriced_requests, 0) as unpriced_requests,
  round(reported.reported_cost_usd, 4) as reported_cost_usd,
  coalesce(calls.tool_calls, 0) as tool_calls,
  coalesce(calls.failed_tool_calls, 0) as failed_tool_calls
from days
left join usage on usage.day = days.day and usage.source = days.source
left join calls on calls.day = days.day and calls.source = days.source
left join reported on reported.day = days.day and reported.source = days.source
order by days.day desc, agent
