-- title: Tokens and cost per day
-- description: >-
--   Tokens by kind and estimated cost (USD, from the shipped price table) per UTC day and model.
--   Each API response is counted once. Requests whose model has no price are counted in
--   unpriced_requests and left out of the cost, never counted as $0.
select
  day,
  model,
  requests,
  input_tokens,
  output_tokens,
  cache_creation_input_tokens,
  cache_read_input_tokens,
  total_tokens,
  cost_usd,
  unpriced_requests
from daily_usage
where day between coalesce(nullif(:start, ''), '0000') and coalesce(nullif(:end, ''), '9999')
order by day desc, cost_usd desc
