-- kept findings (incremental builds only, transform/scope.py): the stored anomalies of the users the build does not
-- rebuild, put back beside the new findings, so that anomalies.sql numbers every finding as a full build does.
-- error_day findings are never kept: that detector reads every day's counts and runs whole each time. Of the
-- users it rebuilds, the findings on transactions before their first change are kept for the detectors that look
-- at the tail only: each of their findings depends on its transaction alone, or on it and earlier ones.

select fingerprint, detector, severity, user_id, currency, transaction_id, detected_at, business_date, score,
       amount, parameters, explanation, file_id, line_no
from anomalies
where not coalesce(detector = 'error_day' or {{ user_in_scope('user_id') }}, false)
   or detector in ('burst', 'rapid_deduction', 'continuity_gap', 'float_noise', 'negative_amount', 'off_hours_manual',
                   'vat_mismatch', 'unknown_action')
      and not {{ in_tail('anomalies', 'detected_at') }}
   -- (it looks back in time: the findings before the time of the user's first change)
   or detector = 'frequent_discrepancies'
      and detected_at < (select changes.since_ts from scope_users changes where changes.user_id = anomalies.user_id)
