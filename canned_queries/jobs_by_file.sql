-- title: Jobs by file
-- description: >-
--   Headless `claude -p` jobs that modified a file whose path contains the given text (matched
--   against each job's files_modified_json list), newest first, with their status, prompt and cost.
-- params: [file, start, end]
-- hints: {file: 'part of a path, e.g. app.py'}
-- chart: {type: columns, x: started_at, day: true, y: files_modified, series: status}
-- hide_sql: true
select
  j.id as job_id,
  j.started_at,
  j.status,
  f.value as file,
  j.files_modified,
  j.primary_tool,
  j.tool_call_count,
  j.failed_tool_calls,
  j.prompt,
  j.summary,
  j.session_id,
  round(coalesce(j.total_cost_usd, j.cost_usd), 4) as cost_usd
from jobs j, json_each(case when json_valid(j.files_modified_json) then j.files_modified_json else '[]' end) f
where coalesce(:file, '') != '' and f.value like '%' || :file || '%'
  and j.started_at >= coalesce(nullif(:start, ''), '0000')
  and j.started_at < coalesce(date(nullif(:end, ''), '+1 day'), '9999')
order by j.started_at desc
limit 200
