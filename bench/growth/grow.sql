-- bench/growth/grow.sql: grows bench/run --growth's database to :target tasks, set-based (run by
-- growth.bash with psql -1, so all of it or nothing).
--
-- psql variables: target (tasks the database holds afterwards), per_user (tasks per new user),
-- measured (the measured users' ids, comma-separated; the first one's rows are the template).
--
-- Adds (target - tasks now) / per_user users, each with a copy of every row the API wrote for the
-- template user's tasks: the task, its reminders, its published `task-created` outbox row, its audit
-- entry and any processed-event marks. Every column is the template's except the keys, the owner and
-- the times: ids are UUIDv7 as the app makes them (time-ordered, from the row's creation time), the
-- payloads and audit data name the new task, reminder, user and event, and creation times are spread
-- over the seconds before now (50 µs apart, in order), with the template's publish and record delays.

-- The template user and its tasks.
select split_part(:'measured', ',', 1) as tu \gset

create function pg_temp.check(ok boolean, msg text) returns void language plpgsql as $f$
begin
    if not ok then
        raise exception 'grow.sql: %', msg;
    end if;
end
$f$;

-- A UUIDv7 for time ts: 48 bits of Unix milliseconds, version 7, 74 random bits, variant 10.
create function pg_temp.uuid7(ts timestamptz) returns uuid language sql volatile as $f$
    select (lpad(to_hex(floor(extract(epoch from ts) * 1000)::bigint), 12, '0') || '7'
            || substr(md5(random()::text), 1, 3) || to_hex(8 + floor(random() * 4)::int)
            || substr(md5(random()::text), 1, 15))::uuid
$f$;

-- JSON's RFC 3339 form of a time, as the app writes it into payloads.
create function pg_temp.rfc3339(ts timestamptz) returns text language sql immutable as $f$
    select to_char(ts at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$f$;

create temp table growth_template on commit drop as
select t.id as tmpl_id, t.created_at, o.event_id as tmpl_event
from tasks t
join outbox o on o.partition_key = t.user_id and o.topic = 'task-created'
    and o.published_at is not null and o.payload -> 'task' ->> 'id' = t.id::text
where t.user_id = :'tu';

select pg_temp.check(count(*) = :per_user,
    format('the template user %s has %s tasks with a published task-created event, not %s', :'tu', count(*), :per_user))
from growth_template;
select pg_temp.check(count(*) <= :target, format('the database already holds %s tasks, more than %s', count(*), :target))
from tasks;

-- The new users.
create temp table growth_users on commit drop as
select gen_random_uuid()::text as id, n
from generate_series(1, (:target - (select count(*) from tasks)) / :per_user) n;

insert into users (id, name, email, password_hash, timezone, default_reminder_minutes, created_at, updated_at)
select g.id, 'Growth user ' || g.n, 'growth-' || g.id || '@example.com', u.password_hash, u.timezone,
       u.default_reminder_minutes, now() - interval '1 hour', now() - interval '1 hour'
from growth_users g cross join users u
where u.id = :'tu';

-- One row per new task: its owner, its template, its creation time and its new ids.
create temp table growth_map on commit drop as
select x.user_id, x.tmpl_id, x.tmpl_event, x.ts, pg_temp.uuid7(x.ts) as task_id, pg_temp.uuid7(x.ts) as event_id
from (
    select g.id as user_id, t.tmpl_id, t.tmpl_event,
           now() - (count(*) over () - row_number() over (order by g.n, t.created_at, t.tmpl_id))
                   * interval '50 microseconds' as ts
    from growth_users g cross join growth_template t
) x;
create temp table growth_reminders on commit drop as
select m.task_id, r.id as tmpl_rem, pg_temp.uuid7(m.ts) as rem_id
from growth_map m join task_reminders r on r.task_id = m.tmpl_id;
select pg_temp.check(count(*) = count(distinct task_id), 'a template task has more than one reminder')
from growth_reminders;
analyze growth_map;
analyze growth_reminders;

insert into tasks (id, user_id, title, description, priority, category, tags, completed, completed_at, due_at,
                   recurrence, parent_task_id, created_at, updated_at, version, occurrence_key)
select m.task_id, m.user_id, t.title, t.description, t.priority, t.category, t.tags, t.completed, t.completed_at,
       t.due_at, t.recurrence, t.parent_task_id, m.ts, m.ts, t.version, t.occurrence_key
from growth_map m join tasks t on t.id = m.tmpl_id
order by m.ts;

insert into task_reminders (id, task_id, user_id, remind_at, minutes_before_due, fired_at, created_at)
select gr.rem_id, m.task_id, m.user_id, r.remind_at, r.minutes_before_due, r.fired_at, m.ts
from growth_reminders gr
join growth_map m on m.task_id = gr.task_id
join task_reminders r on r.id = gr.tmpl_rem
order by m.ts;

-- The event's JSON (outbox payload, audit data) of the template, naming the new rows and times.
create function pg_temp.event_json(j jsonb, m growth_map, tu text, tmpl_rem uuid, rem_id uuid)
returns jsonb language sql immutable as $f$
    select jsonb_set(jsonb_set(jsonb_set(
               replace(replace(replace(replace(j::text,
                   m.tmpl_id::text, m.task_id::text),
                   m.tmpl_event::text, m.event_id::text),
                   tu, m.user_id),
                   coalesce(tmpl_rem::text, '-'), coalesce(rem_id::text, '-'))::jsonb,
               '{occurred_at}', to_jsonb(pg_temp.rfc3339(m.ts)), false),
               '{task,created_at}', to_jsonb(pg_temp.rfc3339(m.ts)), false),
               '{task,updated_at}', to_jsonb(pg_temp.rfc3339(m.ts)), false)
$f$;

insert into outbox (event_id, topic, partition_key, payload, created_at, published_at, attempts, next_attempt_at,
                    last_error, traceparent, source)
select m.event_id, o.topic, m.user_id, pg_temp.event_json(o.payload, m, :'tu', gr.tmpl_rem, gr.rem_id), m.ts,
       m.ts + (o.published_at - o.created_at), o.attempts, m.ts + (o.next_attempt_at - o.created_at),
       o.last_error, o.traceparent, o.source
from growth_map m
join outbox o on o.event_id = m.tmpl_event
left join growth_reminders gr on gr.task_id = m.task_id
order by m.ts;

insert into audit_logs (event_id, event_type, entity_type, entity_id, user_id, data, occurred_at, recorded_at, trace_id)
select m.event_id, a.event_type, a.entity_type, m.task_id::text, m.user_id,
       pg_temp.event_json(a.data, m, :'tu', gr.tmpl_rem, gr.rem_id), m.ts, m.ts + (a.recorded_at - a.occurred_at),
       a.trace_id
from growth_map m
join audit_logs a on a.event_id = m.tmpl_event
left join growth_reminders gr on gr.task_id = m.task_id
order by m.ts;

insert into processed_events (consumer, event_id, processed_at)
select p.consumer, m.event_id, m.ts + (p.processed_at - a.occurred_at)
from growth_map m
join processed_events p on p.event_id = m.tmpl_event
join audit_logs a on a.event_id = m.tmpl_event;

select pg_temp.check(count(*) = :target, format('grew to %s tasks, not %s', count(*), :target)) from tasks;
select pg_temp.check((select count(*) from audit_logs) >= (select count(*) from growth_map),
    'the template tasks have no audit entries');
