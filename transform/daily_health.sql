-- daily_health: one row per business date with Lambda activity. Invocation figures come from
-- invocations (REPORT lines); error, skip and not-in-sync counts from daily_event_counts. Percentiles use
-- the nearest-rank method: the value at rank ceil(p/100 · n) of the day's durations.

with

event_counts as (
    select business_date, kind, count_events from daily_event_counts
    {%- if scoped %}
    where {{ day_in_scope('business_date') }}
    {%- endif %}
),

ranked as (
    -- reads invocations itself: through a CTE of its own, SQLite copied every row into a temporary table before
    -- the window's sort (0.6 CPU s on the 100x sample), in the same order, so the sums are the same
    select
        business_date, duration_ms, init_duration_ms, max_memory_used_mb, memory_size_mb, is_cold_start,
        row_number() over by_duration as duration_rank,
        -- the same window over the whole day: one sort for both
        count(duration_ms) over (by_duration rows between unbounded preceding and unbounded following)
            as count_durations
    from invocations
    where business_date is not null
    {%- if scoped %}
      and {{ day_in_scope('business_date') }}
    {%- endif %}
    -- NULL durations (no REPORT) sort last on both databases, after the ranks that count
    window by_duration as (partition by business_date
                           order by case when duration_ms is null then 1 else 0 end, duration_ms)
),

per_day_invocations as (
    select
        business_date,
        count(*) as count_invocations,
        sum(case when is_cold_start then 1 else 0 end) as count_cold_starts,
        max(case when duration_rank = (count_durations * 50 + 99) / 100 then duration_ms end) as p50_duration_ms,
        max(case when duration_rank = (count_durations * 95 + 99) / 100 then duration_ms end) as p95_duration_ms,
        max(duration_ms) as max_duration_ms,
        avg(init_duration_ms) as avg_init_duration_ms,
        max(init_duration_ms) as max_init_duration_ms,
        max(max_memory_used_mb) as max_memory_used_mb,
        max(memory_size_mb) as memory_size_mb
    from ranked
    group by business_date
),

per_day_events as (
    select
        business_date,
        sum(case when kind in ('sync_error', 'uncaught_exception', 'invoke_error', 'runtime_error', 'init_report')
                 then count_events else 0 end) as count_errors,
        sum(case when kind in ('skip_create_subscription', 'skip_create_web_subscription', 'skip_already_synced',
                               'skip_flag_false')
                 then count_events else 0 end) as count_skips,
        sum(case when kind = 'not_in_sync' then count_events else 0 end) as count_not_in_sync
    from event_counts
    group by business_date
),

days as (
    select business_date from per_day_invocations
    union
    select business_date from per_day_events
),

final as (
    select
        days.business_date,
        coalesce(per_day_invocations.count_invocations, 0) as count_invocations,
        coalesce(per_day_invocations.count_cold_starts, 0) as count_cold_starts,
        per_day_invocations.p50_duration_ms,
        per_day_invocations.p95_duration_ms,
        per_day_invocations.max_duration_ms,
        per_day_invocations.avg_init_duration_ms,
        per_day_invocations.max_init_duration_ms,
        per_day_invocations.max_memory_used_mb,
        per_day_invocations.memory_size_mb,
        coalesce(per_day_events.count_errors, 0) as count_errors,
        coalesce(per_day_events.count_skips, 0) as count_skips,
        coalesce(per_day_events.count_not_in_sync, 0) as count_not_in_sync
    from days
    left join per_day_invocations on per_day_invocations.business_date = days.business_date
    left join per_day_events on per_day_events.business_date = days.business_date
)

select business_date, count_invocations, count_cold_starts, p50_duration_ms, p95_duration_ms, max_duration_ms,
       avg_init_duration_ms, max_init_duration_ms, max_memory_used_mb, memory_size_mb, count_errors, count_skips,
       count_not_in_sync
from final
