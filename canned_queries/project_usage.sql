-- title: Cost and tokens per project
-- description: >-
--   Sessions, API requests, tokens and estimated cost per project (the directory the session
--   started in), over a date range. Subagents count under their session's project.
--   Machine and account narrow to one machine's sessions, or one Claude Code config directory's.
-- params: [start, end, project, agent, machine, account]
-- chart: {type: bars, label: project, y: cost_usd, unit: $, paths: true, note: '{sessions} sessions'}
-- hide_sql: true
select
  s.project_path as project,
  count(distinct u.session_id) as sessions,
  sum(u.requests) as requests,
  sum(u.total_tokens) as total_tokens,
  sum(u.output_tokens) as output_tokens,
  round(sum(u.cost_usd), 2) as cost_usd,
  sum(u.unpriced_requests) as unpriced_requests,
  min(u.day) as first_day,
  max(u.day) as last_day
from usage_daily u
join sessions s on s.id = u.session_id
where u.day >= coalesce(nullif(:start, ''), '0000')
  and u.day <= coalesce(nullif(:end, ''), '9999')
  and (coalesce(:project, '') = '' or s.project_path = :project or s.project_path like (case when substr(:project, 1, 1) = '/' then rtrim(:project, '/') || '/%' else '%' || :project || '%' end))
  and (coalesce(:agent, '') = '' or s.source = :agent)
  and (coalesce(:machine, '') = '' or s.host = :machine)
  and (coalesce(:account, '') = '' or s.account = :account)
group by s.project_path
order by cost_usd desc
limit 100
