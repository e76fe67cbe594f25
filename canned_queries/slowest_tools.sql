-- title: Slowest tools
-- description: >-
--   Average, longest and total time per tool, over calls whose duration is known (from the
--   PostToolUse hook, or from the transcript's call and result times).
-- params: [start, end, project, min_calls]
-- chart: {mark: bar, x_column: tool_name, x_type: nominal, y_column: avg_seconds, y_type: quantitative}
select
  t.tool_name,
  count(*) as timed_calls,
  round(avg(t.duration_ms) / 1000.0, 2) as avg_seconds,
  round(max(t.duration_ms) / 1000.0, 1) as max_seconds,
  round(sum(t.duration_ms) / 60000.0, 1) as total_minutes
from tool_calls t
where t.duration_ms is not null
  and t.started_at >= coalesce(nullif(:start, ''), '0000')
  and t.started_at < coalesce(date(nullif(:end, ''), '+1 day'), '9999')
  and (coalesce(:project, '') = ''
       or t.session_id in (select id from sessions where project_path like '%' || :project || '%'))
group by t.tool_name
having count(*) >= coalesce(cast(nullif(:min_calls, '') as integer), 1)
order by avg_seconds desc
