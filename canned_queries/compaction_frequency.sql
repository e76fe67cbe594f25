-- title: Compaction frequency
-- description: >-
--   Compactions per day and session, automatic (the context window filled up) versus manual
--   (/compact), with the context size just before. Sessions that compact often run long and lose
--   detail each time.
--   Machine and account narrow to one machine's sessions, or one Claude Code config directory's.
-- params: [start, end, project, agent, machine, account]
-- chart: {type: columns, x: day, y: compactions, series: project, paths: true}
-- hide_sql: true
select
  date(c.timestamp) as day,
  c.session_id,
  s.project_path as project,
  count(*) as compactions,
  sum(c.trigger = 'auto') as auto,
  sum(c.trigger = 'manual') as manual,
  cast(avg(c.pre_tokens) as integer) as avg_pre_tokens,
  max(c.pre_tokens) as max_pre_tokens
from compactions c
left join sessions s on s.id = c.session_id
where c.timestamp >= coalesce(nullif(:start, ''), '0000')
  and c.timestamp < coalesce(date(nullif(:end, ''), '+1 day'), '9999')
  and (coalesce(:project, '') = '' or s.project_path = :project or s.project_path like (case when substr(:project, 1, 1) = '/' then rtrim(:project, '/') || '/%' else '%' || :project || '%' end))
  and (coalesce(:agent, '') = '' or s.source = :agent)
  and (coalesce(:machine, '') = '' or s.host = :machine)
  and (coalesce(:account, '') = '' or s.account = :account)
group by day, c.session_id
order by day desc, compactions desc
