-- title: Tokens and cost per day
-- description: >-
--   Tokens by kind and estimated cost (USD, from the shipped price table) per UTC day and model.
--   Each API response is counted once. Requests whose model has no price are counted in
--   unpriced_requests and left out of the cost, never counted as $0. Leave a field empty for all.
--   Machine and account narrow to one machine's sessions, or one Claude Code config directory's.
-- params: [start, end, project, agent, machine, account]
-- chart: {type: columns, x: day, y: cost_usd, series: model, unit: $}
-- hide_sql: true
select
  u.day,
  u.model,
  sum(u.requests) as requests,
  sum(u.input_tokens) as input_tokens,
  sum(u.output_tokens) as output_tokens,
  sum(u.cache_creation_input_tokens) as cache_creation_input_tokens,
  sum(u.cache_read_input_tokens) as cache_read_input_tokens,
  sum(u.total_tokens) as total_tokens,
  round(sum(u.cost_usd), 4) as cost_usd,
  sum(u.unpriced_requests) as unpriced_requests
from usage_daily u
where u.day >= coalesce(nullif(:start, ''), '0000')
  and u.day <= coalesce(nullif(:end, ''), '9999')
  and (coalesce(:project, '') = ''
       or u.session_id in (select id from sessions where project_path = :project or project_path like (case when substr(:project, 1, 1) = '/' then rtrim(:project, '/') || '/%' else '%' || :project || '%' end)))
  and (coalesce(:agent, '') = '' or u.session_id in (select id from sessions where source = :agent))
  and (coalesce(:machine, '') = '' or u.session_id in (select id from sessions where host = :machine))
  and (coalesce(:account, '') = '' or u.session_id in (select id from sessions where account = :account))
group by u.day, u.model
order by u.day desc, cost_usd desc
