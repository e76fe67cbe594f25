-- title: Error messages
-- description: >-
--   The most frequent errors, from failed tool calls and from the API (rate limits, overload,
--   authentication), grouped by their first 160 characters. search narrows to messages containing
--   that text; agent (claude, codex, gemini, opencode, opencode-go, crush) narrows to one agent's sessions.
--   Machine and account narrow to one machine's sessions, or one Claude Code config directory's.
-- params: [start, end, search, agent, machine, account]
-- hints: {search: 'part of the message, e.g. timeout'}
-- chart: {type: bars, label: message, y: occurrences, note: '{sessions} sessions'}
-- hide_sql: true
with errs as (
  select 'tool' as source, tool_name as what, error_message as message, session_id, ended_at as at,
         tool_use_id as step
  from tool_calls
  where is_error = 1 and error_message is not null  -- read from the index of failed calls
    and started_at >= coalesce(nullif(:start, ''), '0000')
    and started_at < coalesce(date(nullif(:end, ''), '+1 day'), '9999')
  union all
  select 'api', kind, coalesce(message, kind), session_id, timestamp, id
  from errors
  where timestamp >= coalesce(nullif(:start, ''), '0000')
    and timestamp < coalesce(date(nullif(:end, ''), '+1 day'), '9999')
)
select
  source,
  what,
  replace(replace(substr(message, 1, 160), char(10), ' '), char(13), ' ') as message,
  count(*) as occurrences,
  count(distinct session_id) as sessions,
  max(at) as last_seen,
  -- with max(), SQLite takes these from the latest occurrence: the message links to its card
  session_id,
  step as tool_use_id
from errs
where (coalesce(:search, '') = '' or message like '%' || :search || '%')
  and (coalesce(:agent, '') = '' or session_id in (select id from sessions where source = :agent))
  and (coalesce(:machine, '') = '' or session_id in (select id from sessions where host = :machine))
  and (coalesce(:account, '') = '' or session_id in (select id from sessions where account = :account))
group by source, what, 3
order by occurrences desc
limit 100
