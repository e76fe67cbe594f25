-- title: Slowest tools
-- description: >-
--   Average, longest and total time per tool, over calls whose duration is known (from the
--   PostToolUse hook, or from the transcript's call and result times), per agent.
--   agent (claude, codex, gemini, opencode, opencode-go, crush) narrows to one agent's sessions.
--   Machine and account narrow to one machine's sessions, or one Claude Code config directory's.
-- params: [start, end, project, agent, machine, account, min_calls]
-- hints: {min_calls: 'tools with at least this many timed calls (default 1)'}
-- chart: {type: bars, label: tool_name, y: avg_seconds, unit: s, note: '{timed_calls} timed calls'}
-- hide_sql: true
select
  t.tool_name,
  s.source as agent,
  sum(t.timed_calls) as timed_calls,
  round(sum(t.duration_ms_total) / 1000.0 / sum(t.timed_calls), 2) as avg_seconds,
  round(max(t.duration_ms_max) / 1000.0, 1) as max_seconds,
  round(sum(t.duration_ms_total) / 60000.0, 1) as total_minutes
from tool_daily t
left join sessions s on s.id = t.session_id
where t.timed_calls > 0
  and t.day >= coalesce(nullif(:start, ''), '0000')
  and t.day <= coalesce(nullif(:end, ''), '9999')
  and (coalesce(:project, '') = ''
       or t.session_id in (select id from sessions where project_path = :project or project_path like (case when substr(:project, 1, 1) = '/' then rtrim(:project, '/') || '/%' else '%' || :project || '%' end)))
  and (coalesce(:agent, '') = '' or s.source = :agent)
  and (coalesce(:machine, '') = '' or s.host = :machine)
  and (coalesce(:account, '') = '' or s.account = :account)
group by t.tool_name, s.source
having sum(t.timed_calls) >= coalesce(cast(nullif(:min_calls, '') as integer), 1)
order by avg_seconds desc
