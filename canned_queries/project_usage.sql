-- title: Cost and tokens per project
-- description: >-
--   Sessions, API requests, tokens and estimated cost per project (the directory the session
--   started in), over a date range. Subagents count under their session's project.
-- params: [start, end]
-- chart: {mark: bar, x_column: cost_usd, x_type: quantitative, y_column: project, y_type: nominal}
select
  s.project_path as project,
  count(distinct r.session_id) as sessions,
  count(*) as requests,
  sum(r.usage_total) as total_tokens,
  sum(r.output_tokens) as output_tokens,
  round(sum(r.cost_usd), 2) as cost_usd,
  sum(r.priced = 0) as unpriced_requests,
  min(r.timestamp) as first_request,
  max(r.timestamp) as last_request
from api_requests r
join sessions s on s.id = r.session_id
where r.is_replay = 0
  and r.timestamp >= coalesce(nullif(:start, ''), '0000')
  and r.timestamp < coalesce(date(nullif(:end, ''), '+1 day'), '9999')
group by s.project_path
order by cost_usd desc
limit 100
