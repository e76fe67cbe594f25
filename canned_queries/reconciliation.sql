-- title: Reconciliation of transcript costs with Claude Code figures
-- description: >-
--   Per session (or, with by=day, per UTC day): the tokens and cost we count from transcripts
--   (each API response once, priced from the dated tables) beside Claude Code's own figure: the sum
--   of its OpenTelemetry api_request events where it sent them (one per API call, compaction calls
--   included), else the rises of its statusline total_cost_usd, else a headless run's
--   total_cost_usd. ratio is theirs over ours; a row off by more than 1% is flagged, and so is one
--   only one side saw. Give session_id for one session. Leave a field empty for all.
-- params: [start, end, project, session_id, by]
-- choices: {by: ['', day]}
-- hints: {by: 'empty: per session; day: per UTC day', session_id: 'one session (its id)'}
-- chart: {type: bars, label: [session_id, day], y: transcript_cost_usd, unit: $, note: 'Claude Code {claude_code_cost_usd}  {flag}'}
-- hide_sql: true
with chosen as (
  select id, project_path, coalesce(title, summary) as title from sessions
   where (coalesce(:project, '') = '' or project_path = :project or project_path like (case when substr(:project, 1, 1) = '/' then rtrim(:project, '/') || '/%' else '%' || :project || '%' end))
     and (coalesce(:session_id, '') = '' or id = :session_id)
  union all  -- a headless run recorded from its json output alone has no session row
  select distinct j.session_id, j.cwd, null from jobs j
   where j.session_id is not null and j.session_id not in (select id from sessions)
     and (coalesce(:project, '') = '' or j.cwd = :project or j.cwd like (case when substr(:project, 1, 1) = '/' then rtrim(:project, '/') || '/%' else '%' || :project || '%' end))
     and (coalesce(:session_id, '') = '' or j.session_id = :session_id)
),
transcript as (
  select u.session_id, u.day, sum(u.requests) as requests, sum(u.total_tokens) as tokens,
         sum(u.cost_usd) as cost_usd, sum(u.unpriced_requests) as unpriced
    from usage_daily u join chosen on chosen.id = u.session_id
   group by u.session_id, u.day
),
otel as (
  select o.session_id, date(o.timestamp) as day, count(*) as requests,
         sum(coalesce(o.input_tokens, 0) + coalesce(o.output_tokens, 0) + coalesce(o.cache_read_tokens, 0)
             + coalesce(o.cache_creation_tokens, 0)) as tokens,
         sum(o.cost_usd) as cost_usd
    from otel_events o join chosen on chosen.id = o.session_id
   where o.event = 'api_request'
   group by o.session_id, date(o.timestamp)
),
snapshots as (
  select s.session_id, s.captured_at, s.total_cost_usd,
         lag(s.total_cost_usd) over (partition by s.session_id order by s.captured_at) as before
    from statusline_snapshots s join chosen on chosen.id = s.session_id
   where s.total_cost_usd is not null
),
statusline as (
  -- what the session's cost rose by that day; a fall is a session that started over (/clear)
  select session_id, date(captured_at) as day,
         sum(case when before is null or total_cost_usd < before then total_cost_usd
                  else total_cost_usd - before end) as cost_usd
    from snapshots group by session_id, date(captured_at)
),
runs as (
  select j.session_id, date(j.started_at) as day, sum(j.total_cost_usd) as cost_usd,
         sum(coalesce(j.input_tokens, 0) + coalesce(j.output_tokens, 0) + coalesce(j.cache_creation_input_tokens, 0)
             + coalesce(j.cache_read_input_tokens, 0)) as tokens
    from jobs j join chosen on chosen.id = j.session_id
   where j.total_cost_usd is not null
   group by j.session_id, date(j.started_at)
),
days as (
  select session_id, day from transcript union select session_id, day from otel
  union select session_id, day from statusline union select session_id, day from runs
),
each_day as (
  select d.session_id, d.day,
         t.requests as transcript_requests, t.tokens as transcript_tokens, t.cost_usd as transcript_cost_usd,
         coalesce(t.unpriced, 0) as unpriced_requests,
         o.requests as otel_requests, o.tokens as otel_tokens, o.cost_usd as otel_cost_usd,
         s.cost_usd as statusline_cost_usd, r.cost_usd as job_cost_usd, r.tokens as job_tokens,
         case when o.cost_usd is not null then 'otel' when s.cost_usd is not null then 'statusline'
              when r.cost_usd is not null then 'job' end as claude_code_source,
         coalesce(o.cost_usd, s.cost_usd, r.cost_usd) as claude_code_cost_usd,
         coalesce(o.tokens, r.tokens) as claude_code_tokens
    from days d
    left join transcript t on t.session_id = d.session_id and t.day = d.day
    left join otel o on o.session_id = d.session_id and o.day = d.day
    left join statusline s on s.session_id = d.session_id and s.day = d.day
    left join runs r on r.session_id = d.session_id and r.day = d.day
   where d.day >= coalesce(nullif(:start, ''), '0000') and d.day <= coalesce(nullif(:end, ''), '9999')
),
grouped as (
  select
    case when coalesce(:by, '') = 'day' then null else e.session_id end as session_id,
    case when coalesce(:by, '') = 'day' then e.day else min(e.day) end as day,
    count(distinct e.session_id) as sessions,
    group_concat(distinct e.claude_code_source) as claude_code_source,
    sum(e.transcript_requests) as transcript_requests,
    sum(e.transcript_tokens) as transcript_tokens,
    round(sum(e.transcript_cost_usd), 6) as transcript_cost_usd,
    sum(e.unpriced_requests) as unpriced_requests,
    sum(e.otel_requests) as otel_requests,
    round(sum(e.otel_cost_usd), 6) as otel_cost_usd,
    round(sum(e.statusline_cost_usd), 6) as statusline_cost_usd,
    round(sum(e.job_cost_usd), 6) as job_cost_usd,
    sum(e.claude_code_tokens) as claude_code_tokens,
    round(sum(e.claude_code_cost_usd), 6) as claude_code_cost_usd,
    -- a side that saw nothing of a row leaves it out of the comparison, rather than counting as 0
    sum(case when e.transcript_cost_usd is not null and e.claude_code_cost_usd is not null
             then e.transcript_cost_usd end) as ours_compared,
    sum(case when e.transcript_cost_usd is not null and e.claude_code_cost_usd is not null
             then e.claude_code_cost_usd end) as theirs_compared,
    sum(e.transcript_cost_usd is null and e.claude_code_cost_usd is not null) as days_only_claude_code,
    sum(e.claude_code_cost_usd is null and e.transcript_cost_usd is not null) as days_only_transcript
  from each_day e
  group by case when coalesce(:by, '') = 'day' then e.day else e.session_id end
)
select
  g.day,
  g.session_id,
  chosen.project_path as project,
  chosen.title,
  g.sessions,
  g.transcript_requests,
  g.transcript_tokens,
  g.transcript_cost_usd,
  g.unpriced_requests,
  g.otel_requests,
  g.otel_cost_usd,
  g.statusline_cost_usd,
  g.job_cost_usd,
  g.claude_code_source,
  g.claude_code_tokens,
  g.claude_code_cost_usd,
  round(g.theirs_compared / nullif(g.ours_compared, 0), 4) as ratio,
  case
    when g.claude_code_cost_usd is null then 'only our transcripts'
    when g.transcript_cost_usd is null then 'only Claude Code''s figure'
    when g.unpriced_requests > 0 then 'unpriced models in ours'
    when g.ours_compared = 0 and g.theirs_compared = 0 then ''
    when g.ours_compared = 0 or abs(g.theirs_compared / g.ours_compared - 1) > 0.01 then 'off by more than 1%'
    when g.days_only_claude_code > 0 or g.days_only_transcript > 0 then 'a day seen by one side only'
    else ''
  end as flag
from grouped g
left join chosen on chosen.id = g.session_id
order by g.day desc, g.claude_code_cost_usd desc
limit 1000
