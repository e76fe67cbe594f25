-- The overview's queries (datasette_claude/pages/overview.py), one per "-- name:" block. Each takes the
-- same filters, bound: :start and :end (UTC days, inclusive), :project (a whole path, or part of one),
-- :agent (sessions.source: claude, opencode, ...), :machine (sessions.host) and :account
-- (sessions.account: the Claude Code config directory); '' means any.
-- The per-day rollups answer them (they keep the days pruned from the detail).

-- name: chosen_sessions
-- The sessions the filters let through (all of them when no filter is set). A project given as a
-- path (it starts with /) is that directory and those below it, so /a/spotter does not take in
-- /a/spotter-worktrees; other text is any part of a path (spotter). The canned queries read
-- :project the same way.
select id from sessions
 where (coalesce(:project, '') = '' or project_path = :project
        or project_path like (case when substr(:project, 1, 1) = '/' then rtrim(:project, '/') || '/%'
                                   else '%' || :project || '%' end))
   and (coalesce(:agent, '') = '' or source = :agent)
   and (coalesce(:machine, '') = '' or host = :machine)
   and (coalesce(:account, '') = '' or account = :account)

-- name: latest_activity
select max(day) from usage_daily where day != ''

-- name: anything
select (select count(*) from sessions) as sessions, (select count(*) from api_requests) as requests,
       (select count(*) from hook_events) as hook_events, (select count(*) from tool_calls) as tool_calls

-- name: figures
select
  (select coalesce(sum(cost_usd), 0) from usage_daily u where day between :start and :end and session_id in chosen) as cost_usd,
  (select coalesce(sum(total_tokens), 0) from usage_daily u where day between :start and :end and session_id in chosen) as tokens,
  (select coalesce(sum(requests), 0) from usage_daily u where day between :start and :end and session_id in chosen) as requests,
  (select coalesce(sum(unpriced_requests), 0) from usage_daily u where day between :start and :end and session_id in chosen) as unpriced,
  (select count(*) from (select session_id from usage_daily where day between :start and :end and session_id in chosen
                         union select session_id from tool_daily where day between :start and :end and session_id in chosen)) as sessions,
  (select coalesce(sum(calls), 0) from tool_daily where day between :start and :end and session_id in chosen) as calls,
  (select coalesce(sum(failures), 0) from tool_daily where day between :start and :end and session_id in chosen) as failures,
  (select count(*) from compactions where timestamp >= :start and timestamp < date(:end, '+1 day')
      and session_id in chosen) as compactions

-- name: cost_by_day
select day, coalesce(nullif(model, ''), '(no model)') as model, sum(cost_usd) as cost_usd, sum(total_tokens) as tokens
  from usage_daily
 where day between :start and :end and session_id in chosen
 group by day, model
 order by day, model

-- name: cost_by_model
select coalesce(nullif(model, ''), '(no model)') as model, sum(cost_usd) as cost_usd, sum(requests) as requests,
       sum(total_tokens) as tokens, sum(unpriced_requests) as unpriced
  from usage_daily
 where day between :start and :end and session_id in chosen
 group by 1
 order by coalesce(sum(cost_usd), 0) desc, sum(total_tokens) desc

-- name: tokens_by_kind
select coalesce(sum(input_tokens), 0) as input, coalesce(sum(output_tokens), 0) as output,
       coalesce(sum(cache_creation_input_tokens), 0) as cache_writes, coalesce(sum(cache_read_input_tokens), 0) as cache_reads
  from usage_daily
 where day between :start and :end and session_id in chosen

-- name: tool_failures
select tool_name, sum(calls) as calls, sum(failures) as failures,
       round(100.0 * sum(failures) / sum(calls), 1) as failure_rate_pct
  from tool_daily
 where day between :start and :end and session_id in chosen and tool_name != ''
 group by tool_name
having sum(calls) >= 3
 order by 100.0 * sum(failures) / sum(calls) desc, sum(calls) desc
 limit 12

-- name: hot_files
select file_path, sum(touches) as touches, sum(reads) as reads, sum(edits) as edits,
       count(distinct session_id) as sessions
  from file_daily
 where day between :start and :end and session_id in chosen
 group by file_path
 order by touches desc
 limit 12

-- name: compactions_by_day
select date(timestamp) as day, coalesce(trigger, 'unknown') as trigger, count(*) as n
  from compactions
 where timestamp >= :start and timestamp < date(:end, '+1 day') and session_id in chosen
 group by 1, 2
 order by 1, 2

-- name: cost_by_project
select s.project_path as project, sum(u.cost_usd) as cost_usd, count(distinct u.session_id) as sessions
  from usage_daily u join sessions s on s.id = u.session_id
 where u.day between :start and :end and u.session_id in chosen
 group by s.project_path
 order by coalesce(sum(u.cost_usd), 0) desc
 limit 12

-- name: top_sessions
select u.session_id, s.label, s.project_path as project, s.source as agent, s.host as machine, min(s.started_at) as started_at,
       sum(u.cost_usd) as cost_usd, sum(u.total_tokens) as tokens,
       (select sum(t.calls) from tool_daily t where t.session_id = u.session_id and t.day between :start and :end) as calls,
       (select sum(t.failures) from tool_daily t where t.session_id = u.session_id and t.day between :start and :end) as failures
  from usage_daily u join sessions s on s.id = u.session_id
 where u.day between :start and :end and u.session_id in chosen
 group by u.session_id
 order by coalesce(sum(u.cost_usd), 0) desc
 limit 10

-- name: recent_failures
-- Read from the index of failed calls, newest first.
select t.tool_use_id, t.session_id, s.label, t.tool_name, t.command, t.file_path,
       substr(t.error_message, 1, 300) as error_head, t.started_at
  from tool_calls t join sessions s on s.id = t.session_id
 where t.is_error = 1 and t.started_at >= :start and t.started_at < date(:end, '+1 day')
   and t.session_id in chosen
 order by t.started_at desc
 limit 10

-- name: choices
-- What the filters can be set to.
select 'agent' as filter, source as value, count(*) as sessions from sessions where source is not null group by source
union all
select 'machine', host, count(*) from sessions where host is not null group by host
union all
select 'account', account, count(*) from sessions where account is not null group by account
order by 1, 3 desc

-- name: projects
select project_path, count(*) as sessions from sessions where project_path is not null group by project_path
