-- anomalies: one row per finding of every detector (docs/transforms.md#anomalies). The detectors in
-- transform/detectors/*.sql and transform/robust.py each append their findings to int_anomaly_findings;
-- this file numbers them. `fingerprint` (detector + the transaction, user or day it is about) is unique and
-- the same in every rebuild, so alerting can tell a new finding from one it has already sent.

with

findings as (
    select fingerprint, detector, severity, user_id, currency, transaction_id, detected_at, business_date, score,
           amount, parameters, explanation, file_id, line_no
    from int_anomaly_findings
),

final as (
    select
        {{ row_number("coalesce(detected_at, ''), detector, fingerprint") }} as anomaly_id,
        findings.*
    from findings
)

select anomaly_id, fingerprint, detector, severity, user_id, currency, transaction_id, detected_at, business_date,
       score, amount, parameters, explanation, file_id, line_no
from final
