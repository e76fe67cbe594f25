-- title: Tool error rates
-- description: >-
--   Calls, failures and failure rate per tool over a date range (and, optionally, one project):
--   which tools fail, and how often. A failure is a tool result marked as an error (a non-zero
--   exit code, a missing file, a rejected edit, a denied or interrupted call).
-- params: [start, end, project, min_calls]
-- chart: {mark: bar, x_column: tool_name, x_type: nominal, y_column: error_rate_pct, y_type: quantitative}
select
  t.tool_name,
  count(*) as calls,
  sum(t.is_error) as failures,
  round(100.0 * sum(t.is_error) / count(*), 1) as error_rate_pct,
  sum(coalesce(t.interrupted, 0)) as interrupted,
  count(distinct t.session_id) as sessions
from tool_calls t
where t.started_at >= coalesce(nullif(:start, ''), '0000')
  and t.started_at < coalesce(date(nullif(:end, ''), '+1 day'), '9999')
  and (coalesce(:project, '') = ''
       or t.session_id in (select id from sessions where project_path like '%' || :project || '%'))
group by t.tool_name
having count(*) >= coalesce(cast(nullif(:min_calls, '') as integer), 1)
order by failures desc, calls desc
