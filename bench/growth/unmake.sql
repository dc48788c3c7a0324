-- bench/growth/unmake.sql: after bench/run --growth's `create` scenario, deletes the tasks it made
-- (titled "Bench task N" by bench/wrk/taskflow.lua) with their outbox rows, audit entries,
-- processed-event marks and reminders, so the measured users (psql variable `measured`, their ids,
-- comma-separated) hold the same tasks at every size and the database its nominal size. Run once
-- the outbox has drained (every event published and audited).
begin;

create temp table growth_gone on commit drop as
select id from tasks
where user_id = any (string_to_array(:'measured', ',')) and title like 'Bench task %';

create temp table growth_gone_events on commit drop as
select o.event_id from outbox o
where o.partition_key = any (string_to_array(:'measured', ','))
  and (o.payload -> 'task' ->> 'id')::uuid in (select id from growth_gone);

delete from processed_events where event_id in (select event_id from growth_gone_events);
delete from audit_logs where event_id in (select event_id from growth_gone_events);
delete from outbox where event_id in (select event_id from growth_gone_events);
delete from task_reminders where task_id in (select id from growth_gone);
delete from tasks where id in (select id from growth_gone);

commit;
