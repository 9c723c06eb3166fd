-- daily_event_counts: one row per business date, event kind and detail (metric name, skip variant, error
-- type…), counted over parsed_logs. The dashboard's system tab and the error_day detector read it.

with

events as (
    select business_date, kind, detail from parsed_logs
),

counted as (
    select business_date, kind, detail, count(*) as count_events
    from events
    group by business_date, kind, detail
)

select business_date, kind, detail, count_events
from counted
