-- kept findings (incremental builds only, transform/steps.py, _renumber_statements): true for a stored anomaly
-- that an incremental build keeps as it is, because the detectors did not derive it again: the findings of the
-- users the build does not rebuild. error_day findings are never kept: that detector reads every day's counts and
-- runs whole each time. Of the users it rebuilds, the findings on transactions before their first change are kept
-- for the detectors that look at the tail only: each of their findings depends on its transaction alone, or on it
-- and earlier ones.

not coalesce(detector = 'error_day' or {{ user_in_scope('user_id') }}, false)
or detector in ('burst', 'rapid_deduction', 'continuity_gap', 'float_noise', 'negative_amount', 'off_hours_manual',
                'vat_mismatch', 'unknown_action')
   and not {{ in_tail('anomalies', 'detected_at') }}
-- (it looks back in time: the findings before the time of the user's first change)
or detector = 'frequent_discrepancies'
   and detected_at < (select changes.since_ts from scope_users changes where changes.user_id = anomalies.user_id)
