-- daily_event_counts: one row per business date, event kind and detail (metric name, skip variant, error
-- type…). The dashboard's system tab and the error_day detector read it. Ingest counts each file's events
-- per date, kind and detail as it parses them (file_event_counts), so this sums a few rows per file
-- instead of grouping every parsed_logs row again.

with

counted as (
    select business_date, kind, detail, sum(count_events) as count_events
    from file_event_counts
    {%- if scoped %}
    where {{ day_in_scope('business_date') }}
    {%- endif %}
    group by business_date, kind, detail
)

select business_date, kind, detail, count_events
from counted
