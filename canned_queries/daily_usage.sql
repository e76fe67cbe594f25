-- title: Tokens and cost per day
-- description: >-
--   Tokens by kind and estimated cost (USD, from the shipped price table) per UTC day and model.
--   Each API response is counted once. Requests whose model has no price are counted in
--   unpriced_requests and left out of the cost, never counted as $0. Leave a field empty for all.
-- params: [start, end, project]
-- chart: {mark: bar, x_column: day, x_type: ordinal, y_column: cost_usd, y_type: quantitative, color_column: model}
select
  date(r.timestamp) as day,
  r.model,
  count(*) as requests,
  sum(r.input_tokens) as input_tokens,
  sum(r.output_tokens) as output_tokens,
  sum(r.cache_creation_input_tokens) as cache_creation_input_tokens,
  sum(r.cache_read_input_tokens) as cache_read_input_tokens,
  sum(r.usage_total) as total_tokens,
  round(sum(r.cost_usd), 4) as cost_usd,
  sum(r.priced = 0) as unpriced_requests
from api_requests r
where r.is_replay = 0
  and r.timestamp >= coalesce(nullif(:start, ''), '0000')
  and r.timestamp < coalesce(date(nullif(:end, ''), '+1 day'), '9999')
  and (coalesce(:project, '') = ''
       or r.session_id in (select id from sessions where project_path like '%' || :project || '%'))
group by day, r.model
order by day desc, cost_usd desc
