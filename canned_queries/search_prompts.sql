-- title: Search prompts
-- description: >-
--   Full-text search over everything typed into the agents. Words are matched as a phrase; the
--   match is highlighted in [brackets]. agent (claude, codex, gemini, opencode, opencode-go, crush) narrows to one agent's sessions.
--   Machine and account narrow to one machine's sessions, or one Claude Code config directory's.
-- params: [q, project, agent, machine, account]
-- hints: {q: 'words to find, as a phrase'}
-- hide_sql: true
select
  p.timestamp,
  p.session_id,
  s.project_path as project,
  s.source as agent,
  snippet(prompts_fts, 0, '[', ']', '…', 24) as match,
  p.text,
  coalesce(p.uuid, p.id) as uuid
from prompts_fts
join prompts p on p.rowid = prompts_fts.rowid
left join sessions s on s.id = p.session_id
where prompts_fts match '"' || replace(coalesce(nullif(:q, ''), 'a0f3e1b2c4d5'), '"', '""') || '"'
  and (coalesce(:project, '') = '' or s.project_path = :project or s.project_path like (case when substr(:project, 1, 1) = '/' then rtrim(:project, '/') || '/%' else '%' || :project || '%' end))
  and (coalesce(:agent, '') = '' or s.source = :agent)
  and (coalesce(:machine, '') = '' or s.host = :machine)
  and (coalesce(:account, '') = '' or s.account = :account)
order by prompts_fts.rank
limit 100
