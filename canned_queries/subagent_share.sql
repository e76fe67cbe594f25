-- title: Subagent share
-- description: >-
--   Per day, how much of the work and the cost went to subagents (the Agent tool, /btw, the
--   compaction summariser; another agent's child sessions) rather than the main conversation.
--   agent (claude, codex, gemini, opencode, opencode-go, crush) narrows to one agent's sessions.
--   Machine and account narrow to one machine's sessions, or one Claude Code config directory's.
-- params: [start, end, agent, machine, account]
-- chart: {type: lines, x: day, y: subagent_cost_share_pct, unit: '%'}
-- hide_sql: true
with cost as (
  select
    day,
    sum(requests) as requests,
    sum(case when is_subagent then requests else 0 end) as subagent_requests,
    sum(cost_usd) as cost_usd,
    sum(case when is_subagent then cost_usd else 0 end) as subagent_cost_usd
  from usage_daily
  where day >= coalesce(nullif(:start, ''), '0000') and day <= coalesce(nullif(:end, ''), '9999')
    and (coalesce(:agent, '') = '' or session_id in (select id from sessions where source = :agent))
    and (coalesce(:machine, '') = '' or session_id in (select id from sessions where host = :machine))
    and (coalesce(:account, '') = '' or session_id in (select id from sessions where account = :account))
  group by day
),
calls as (
  select
    day,
    sum(calls) as tool_calls,
    sum(case when is_subagent then calls else 0 end) as subagent_tool_calls
  from tool_daily
  where day >= coalesce(nullif(:start, ''), '0000') and day <= coalesce(nullif(:end, ''), '9999')
    and (coalesce(:agent, '') = '' or session_id in (select id from sessions where source = :agent))
    and (coalesce(:machine, '') = '' or session_id in (select id from sessions where host = :machine))
    and (coalesce(:account, '') = '' or session_id in (select id from sessions where account = :account))
  group by day
)
select
  cost.day,
  coalesce(calls.tool_calls, 0) as tool_calls,
  coalesce(calls.subagent_tool_calls, 0) as subagent_tool_calls,
  round(100.0 * calls.subagent_tool_calls / calls.tool_calls, 1) as subagent_call_share_pct,
  cost.requests,
  cost.subagent_requests,
  round(cost.cost_usd, 4) as cost_usd,
  round(cost.subagent_cost_usd, 4) as subagent_cost_usd,
  round(100.0 * cost.subagent_cost_usd / nullif(cost.cost_usd, 0), 1) as subagent_cost_share_pct
from cost
left join calls on calls.day = cost.day
order by cost.day desc
