-- detector off_hours_manual: a posting by hand (source in MANUAL_SOURCES, action not in AUTOMATED_ACTIONS,
-- so the nightly DELIVERY_DEDUCTION batch is left out) made outside BUSINESS_HOURS or on a BUSINESS_WEEKEND
-- day, in business time (BUSINESS_TZ; GCC weekend: Friday and Saturday). Severity low.

with

postings as (
    select transaction_id, user_id, currency, source, action, amount, ts, ts_ms, business_date, file_id, line_no
    from int_ledger
    where source in :manual_sources and (action is null or action not in :automated_actions)
    {%- if scoped %}
      and is_tail  -- an incremental build: the findings before the tail are kept (kept_findings.sql)
    {%- endif %}
),

offsets as (
    select valid_from_ms, valid_to_ms, offset_ms from ref_tz_offsets
),

localised as (
    select
        postings.*,
        {{ local_minute_of_day('postings.ts_ms', 'offsets') }} as local_minute,
        {{ local_weekday('postings.ts_ms', 'offsets') }} as local_weekday
    from postings
    join offsets on {{ tz_join('postings.ts_ms', 'offsets') }}
),

flagged as (
    select
        localised.*,
        local_weekday in :weekend_days as is_weekend
    from localised
    where local_weekday in :weekend_days or local_minute < :work_start_min or local_minute >= :work_end_min
),

final as (
    select
        'off_hours_manual:' || transaction_id as fingerprint,
        'off_hours_manual' as detector,
        'low' as severity,
        flagged.user_id, flagged.currency, flagged.transaction_id, flagged.ts as detected_at, flagged.business_date,
        cast(null as float) as score,
        flagged.amount,
        :params_off_hours_manual as parameters,
        'Manual posting ' || coalesce(action, '(no action)') || ' of ' || {{ money('amount', 'cur', 'flagged.currency') }}
            || ' was made at ' || substr({{ int_text('100 + local_minute / 60') }}, 2) || ':'
            || substr({{ int_text('100 + local_minute % 60') }}, 2) || ' business time on a '
            || case local_weekday when 0 then 'Sunday' when 1 then 'Monday' when 2 then 'Tuesday'
                                  when 3 then 'Wednesday' when 4 then 'Thursday' when 5 then 'Friday'
                                  else 'Saturday' end
            || case when is_weekend then ', a weekend day.' else ', outside business hours.' end as explanation,
        flagged.file_id, flagged.line_no
    from flagged
    left join ref_currencies cur on cur.currency = flagged.currency
)

select fingerprint, detector, severity, user_id, currency, transaction_id, detected_at, business_date, score,
       amount, parameters, explanation, file_id, line_no
from final
