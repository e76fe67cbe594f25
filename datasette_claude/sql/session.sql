-- The session page's queries (datasette_claude/pages/session.py), one per "-- name:" block.
-- Every value comes in as a bound parameter; :session_id is the session shown.

-- name: session
select * from sessions where id = :session_id

-- name: subagent_of
-- A subagent's id given where a session's was expected: its parent session.
select session_id, agent_id from subagents where agent_id = :session_id

-- name: usage_by_model
-- Per model, from the daily rollups (they keep the days pruned from the detail).
select model, sum(requests) as requests, sum(input_tokens) as input_tokens, sum(output_tokens) as output_tokens,
       sum(cache_creation_input_tokens) as cache_creation_input_tokens,
       sum(cache_read_input_tokens) as cache_read_input_tokens, sum(total_tokens) as total_tokens,
       sum(cost_usd) as cost_usd, sum(unpriced_requests) as unpriced_requests,
       sum(case when is_subagent then cost_usd else 0 end) as subagent_cost_usd
  from usage_daily
 where session_id = :session_id
 group by model
 order by coalesce(sum(cost_usd), 0) desc, sum(total_tokens) desc

-- name: cache_writes_by_model
-- The 5-minute and 1-hour split of cache writes, from the detail still there.
select coalesce(model, '') as model, sum(cache_creation_5m_tokens) as w5m, sum(cache_creation_1h_tokens) as w1h
  from api_requests
 where session_id = :session_id and is_replay = 0
 group by 1

-- name: tool_totals
select coalesce(sum(calls), 0) as calls, coalesce(sum(failures), 0) as failures,
       coalesce(sum(case when is_subagent then calls else 0 end), 0) as subagent_calls
  from tool_daily
 where session_id = :session_id

-- name: counts
select (select count(*) from compactions where session_id = :session_id) as compactions,
       (select count(*) from subagents where session_id = :session_id) as subagents,
       (select count(*) from errors where session_id = :session_id) as errors,
       (select count(*) from permission_decisions where session_id = :session_id) as permission_decisions,
       (select count(*) from jobs where session_id = :session_id) as jobs

-- name: chain
-- Every line of the conversation, as small as it is, to find the branch that was taken.
select rowid, uuid, parent_uuid, logical_parent_uuid, timestamp, agent_id, is_sidechain
  from messages
 where session_id = :session_id
 order by timestamp, rowid

-- name: requests_over_time
-- Cost and context size per API request, for the picture.
select timestamp, cost_usd, coalesce(input_tokens, 0) + coalesce(cache_read_input_tokens, 0)
         + coalesce(cache_creation_input_tokens, 0) as context_tokens, agent_id is not null as is_subagent
  from api_requests
 where session_id = :session_id and is_replay = 0 and timestamp is not null
 order by timestamp

-- name: calls_over_time
select coalesce(started_at, ended_at) as at, is_error, agent_id is not null as is_subagent
  from tool_calls
 where session_id = :session_id and coalesce(started_at, ended_at) is not null

-- name: compactions_over_time
select timestamp, trigger from compactions where session_id = :session_id and timestamp is not null

-- name: jobs
select id, status, started_at from jobs where session_id = :session_id order by started_at

-- name: subagents
select a.*,
       (select sum(u.cost_usd) from api_requests u
         where u.session_id = a.session_id and u.agent_id = a.agent_id and u.is_replay = 0) as cost_usd,
       (select count(*) from api_requests u
         where u.session_id = a.session_id and u.agent_id = a.agent_id and u.is_replay = 0) as requests,
       (select count(*) from tool_calls t where t.session_id = a.session_id and t.agent_id = a.agent_id) as calls,
       (select count(*) from tool_calls t
         where t.session_id = a.session_id and t.agent_id = a.agent_id and t.is_error = 1) as failures
  from subagents a
 where a.session_id = :session_id
 order by a.started_at

-- name: page_messages
-- The lines of one page (their uuids in :uuids, a JSON array), with what the timeline shows of them.
select m.uuid, m.parent_uuid, m.type, m.subtype, m.timestamp, m.agent_id, m.is_meta, m.content_types, m.text,
       m.thinking, m.model, m.message_id, p.id as prompt_id
  from messages m
  left join prompts p on p.uuid = m.uuid and p.session_id = m.session_id
 where m.uuid in (select value from json_each(:uuids))

-- name: tool_calls_shown
-- The tool calls a page shows: those made by its lines (their assistant lines' uuids in :uuids), or
-- with :unplaced = 1 those known only from hooks (no transcript line to hang them on), which the
-- timeline places by their time.
select tool_use_id, message_uuid, agent_id, tool_name, file_path, command, description, is_error,
       substr(error_message, 1, 400) as error_head, length(input_json) as input_chars, output_size,
       length(output_preview) as output_chars, interrupted, started_at, ended_at, duration_ms,
       case when json_valid(input_json) then json_extract(input_json, '$.pattern') end as pattern,
       case when json_valid(input_json) then json_extract(input_json, '$.path') end as path,
       case when json_valid(input_json) then json_extract(input_json, '$.url') end as url,
       case when json_valid(input_json) then json_extract(input_json, '$.query') end as query,
       case when json_valid(input_json) then json_extract(input_json, '$.subagent_type') end as subagent_type,
       case when json_valid(input_json) then substr(json_extract(input_json, '$.prompt'), 1, 300) end as task,
       case when input_json is null or json_valid(input_json) then null else substr(input_json, 1, 300) end as raw_head,
       substr(input_json, 1, 300) as input_head
  from tool_calls t
 where session_id = :session_id
   and (message_uuid in (select value from json_each(:uuids))
        or (:unplaced and agent_id is null
            and (message_uuid is null or not exists (select 1 from messages m where m.uuid = t.message_uuid))))
 order by coalesce(started_at, ended_at)

-- name: other_prompts
-- Prompts known only from hooks (UserPromptSubmit without a transcript line).
select p.* from prompts p
 where p.session_id = :session_id
   and (p.uuid is null or not exists (select 1 from messages m where m.uuid = p.uuid))
 order by p.timestamp

-- name: page_compactions
select * from compactions where session_id = :session_id and id in (select value from json_each(:uuids))

-- name: other_compactions
-- Compactions known only from hooks (PreCompact/PostCompact without a transcript line).
select * from compactions c
 where session_id = :session_id and not exists (select 1 from messages m where m.uuid = c.id)
 order by timestamp

-- name: page_errors
select * from errors where session_id = :session_id and id in (select value from json_each(:uuids))

-- name: other_errors
select * from errors e
 where session_id = :session_id and not exists (select 1 from messages m where m.uuid = e.id)
 order by timestamp

-- name: permission_decisions
select * from permission_decisions where session_id = :session_id order by timestamp

-- name: call
-- One tool call whole: what its card folds out to.
select * from tool_calls where tool_use_id = :tool_use_id and session_id = :session_id
