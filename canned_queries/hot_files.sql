-- title: Hot files
-- description: >-
--   The files agents touch most, by reads and by edits (edit, write, create), per project and
--   over a date range. Files read again and again are candidates for a summary in CLAUDE.md; files
--   edited again and again are where the work (or the churn) is.
--   Machine and account narrow to one machine's sessions, or one Claude Code config directory's.
-- params: [start, end, project, agent, machine, account]
-- chart: {type: bars, label: file_path, y: touches, paths: true, note: '{reads} reads, {edits} edits'}
-- hide_sql: true
with top as (
  select
    f.file_path,
    sum(f.touches) as touches,
    sum(f.reads) as reads,
    sum(f.edits) as edits,
    count(distinct f.session_id) as sessions,
    max(f.last_touched) as last_touched,
    max(f.session_id) as a_session
  from file_daily f
  where f.day >= coalesce(nullif(:start, ''), '0000')
    and f.day <= coalesce(nullif(:end, ''), '9999')
    and (coalesce(:project, '') = ''
         or f.session_id in (select id from sessions where project_path = :project or project_path like (case when substr(:project, 1, 1) = '/' then rtrim(:project, '/') || '/%' else '%' || :project || '%' end)))
    and (coalesce(:agent, '') = '' or f.session_id in (select id from sessions where source = :agent))
    and (coalesce(:machine, '') = '' or f.session_id in (select id from sessions where host = :machine))
    and (coalesce(:account, '') = '' or f.session_id in (select id from sessions where account = :account))
  group by f.file_path
  order by touches desc
  limit 50
)
select
  top.file_path,
  (select project_path from sessions where id = top.a_session) as project,
  top.touches,
  top.reads,
  top.edits,
  top.sessions,
  top.last_touched
from top
order by top.touches desc
