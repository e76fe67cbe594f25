-- title: What used my rate limits
-- description: >-
--   Claude.ai plans' weekly limit (or, with window=5h, the 5-hour one), window by window, from the
--   statusline snapshots, and the sessions that ran in each window: the percentage points the limit
--   rose while each session's status line was showing, its share of the window's rise, and what the
--   session spent in the window (our transcript estimate; Claude Code's own statusline figure).
--   Sessions that ran without the status line (headless runs, other machines) show with their
--   spend and no points. peak_pct is the highest use seen in the window.
-- params: [window, start, end, project]
-- choices: {window: ['', 5h]}
-- hints: {window: 'empty: the weekly limit; 5h: the 5-hour one'}
-- chart: {type: columns, x: window_start, day: true, y: points_used, series: project, paths: true, empty: 'No rate-limit readings in this period: they come from Claude Code''s status line (claude-ingest install-hooks --statusline).'}
-- hide_sql: true
with snaps as (
  select session_id, captured_at, pct, resets_at, substr(resets_at, 1, 16) as window_key
    from (select session_id, captured_at,
                 case when coalesce(:window, '') = '5h' then five_hour_pct else seven_day_pct end as pct,
                 case when coalesce(:window, '') = '5h' then five_hour_resets_at else seven_day_resets_at end
                   as resets_at
            from statusline_snapshots)
   where pct is not null and resets_at is not null
),
rises as (
  -- a rise between two snapshots of a window is the session of the later one's
  select window_key, session_id, captured_at,
         max(pct - coalesce(lag(pct) over (partition by window_key order by captured_at), pct), 0) as rise
    from snaps
),
windows as (
  select window_key, max(resets_at) as window_end,
         strftime('%Y-%m-%dT%H:%M:%fZ', max(resets_at),
                  case when coalesce(:window, '') = '5h' then '-5 hours' else '-7 days' end) as window_start,
         max(pct) as peak_pct
    from snaps group by window_key
),
chosen as (
  select * from windows
   where date(window_end) >= coalesce(nullif(:start, ''), '0000')
     and date(window_start) <= coalesce(nullif(:end, ''), '9999')
),
ran as (
  select window_key, session_id from rises where window_key in (select window_key from chosen)
  union
  select w.window_key, a.session_id from chosen w
    join api_requests a on a.timestamp >= w.window_start and a.timestamp < w.window_end
   where a.session_id is not null and a.is_replay = 0
),
points as (
  select window_key, session_id, sum(rise) as points from rises group by window_key, session_id
),
spend as (
  select s.window_key, s.session_id, sum(s.total_cost_usd - coalesce(s.before, 0)) as cost_usd
    from (select w.window_key, x.session_id, x.captured_at, x.total_cost_usd,
                 lag(x.total_cost_usd) over (partition by w.window_key, x.session_id order by x.captured_at) as before
            from chosen w join statusline_snapshots x
              on x.captured_at >= w.window_start and x.captured_at < w.window_end
           where x.total_cost_usd is not null) s
   where s.before is not null and s.total_cost_usd >= s.before
   group by s.window_key, s.session_id
)
select
  w.window_start,
  w.window_end,
  round(w.peak_pct, 1) as peak_pct,
  r.session_id,
  sessions.project_path as project,
  coalesce(sessions.title, sessions.summary) as title,
  round(p.points, 1) as points_used,
  round(100.0 * p.points / nullif(sum(p.points) over (partition by w.window_key), 0), 1) as share_pct,
  (select round(sum(a.cost_usd), 4) from api_requests a
    where a.session_id = r.session_id and a.is_replay = 0
      and a.timestamp >= w.window_start and a.timestamp < w.window_end) as transcript_cost_usd,
  round(sp.cost_usd, 4) as claude_code_cost_usd
from ran r
join chosen w on w.window_key = r.window_key
left join points p on p.window_key = r.window_key and p.session_id = r.session_id
left join spend sp on sp.window_key = r.window_key and sp.session_id = r.session_id
left join sessions on sessions.id = r.session_id
where coalesce(:project, '') = '' or sessions.project_path = :project or sessions.project_path like (case when substr(:project, 1, 1) = '/' then rtrim(:project, '/') || '/%' else '%' || :project || '%' end)
order by w.window_end desc, coalesce(p.points, -1) desc, transcript_cost_usd desc
limit 1000
