-- amount_groups: one row per user, type, source and action, over the transactions that have all four and an
-- amount: how many amounts amount_spikes compares like with like (transform/robust.py), the least and the
-- largest, and the group's latest transaction time. Kept for the next build and read by nothing else: a group of
-- fewer than AMOUNT_SPIKE_MIN_SAMPLES amounts, or of one amount repeated, has no spike, so an incremental build
-- reads the amounts of the other groups only.
-- An incremental build adds each changed user's transactions from the time of their first change on
-- (scope_users.since_ts) to their stored groups when every one of those ends before that time; a user with a stored
-- group whose latest transaction is at or after it has all their groups counted again.

{%- if scoped %}

with

changed as (
    select
        changes.user_id, changes.since_ts,
        exists (select 1 from amount_groups stored
                where stored.user_id = changes.user_id and stored.last_ts >= changes.since_ts) as recount
    from scope_users changes
    where changes.user_id is not null
),

amounts as (
    select
        stored.user_id, stored.type, stored.source, stored.action, stored.count_amounts, stored.least_amount,
        stored.largest_amount, stored.last_ts
    from changed
    join amount_groups stored on stored.user_id = changed.user_id
    where not changed.recount
    union all
    -- (a CROSS JOIN: SQLite joins in the order written, so each user's transactions are a range of the user index)
    select tail.user_id, tail.type, tail.source, tail.action, 1, tail.amount, tail.amount, tail.ts
    from changed
    cross join balance_events tail
    where tail.user_id = changed.user_id
      and tail.ts >= case when changed.recount then '' else changed.since_ts end
      and tail.type is not null and tail.source is not null and tail.action is not null and tail.amount is not null
)

select
    user_id, type, source, action, sum(count_amounts) as count_amounts, min(least_amount) as least_amount,
    max(largest_amount) as largest_amount, max(last_ts) as last_ts
from amounts
group by user_id, type, source, action

{%- else %}

select
    user_id, type, source, action, count(*) as count_amounts, min(amount) as least_amount,
    max(amount) as largest_amount, max(ts) as last_ts
from balance_events
where user_id is not null and type is not null and source is not null and action is not null and amount is not null
group by user_id, type, source, action

{%- endif %}
