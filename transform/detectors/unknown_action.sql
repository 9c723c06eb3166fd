-- detector unknown_action: an action that is not one of KNOWN_ACTIONS.
--   typo     within ACTION_TYPO_DISTANCE edits of a known action, e.g. INVAILID_ENTRY → INVALID_ENTRY (low)
--   unknown  well-formed (A-Z, 0-9, _) but close to none                                         (medium)
--   invalid  malformed text, or no action at all on a full-schema transaction                    (high)
-- The closeness is computed in Python (transform/seeds.py → ref_action_checks).

with

transactions as (
    select transaction_id, user_id, currency, schema, action, amount, ts, business_date, file_id, line_no
    from int_ledger
    {%- if scoped %}
    where is_tail  -- an incremental build: the findings before the tail are kept (kept_findings.sql)
    {%- endif %}
),

checks as (
    select action, status, closest_action, distance from ref_action_checks
),

classified as (
    select
        transactions.*,
        case when transactions.action is null then 'invalid' else checks.status end as status,
        checks.closest_action,
        checks.distance
    from transactions
    left join checks on checks.action = transactions.action
    where (transactions.action is null and transactions.schema = 'full')
       or checks.status in ('typo', 'unknown', 'invalid')
),

final as (
    select
        'unknown_action:' || transaction_id as fingerprint,
        'unknown_action' as detector,
        case status when 'typo' then 'low' when 'unknown' then 'medium' else 'high' end as severity,
        user_id, currency, transaction_id, ts as detected_at, business_date,
        distance * 1.0 as score,
        amount,
        '{"status":"' || status || '"'
            || case when closest_action is not null then ',"closest_action":"' || closest_action || '"' else '' end
            || ',' || substr(:params_unknown_action, 2) as parameters,
        case status
            when 'typo' then 'Action ' || action || ' is not a known action; it is probably a misspelling of '
                             || closest_action || ' (' || {{ int_text('distance') }} || ' edit'
                             || case when distance = 1 then '' else 's' end || ' away).'
            when 'unknown' then 'Action ' || action || ' is not a known action and resembles none of them.'
            else case when action is null then 'This transaction has no action although its schema requires one.'
                      else 'Action ' || {{ json_text('action') }} || ' is not a well-formed action name.' end
        end as explanation,
        file_id, line_no
    from classified
)

select fingerprint, detector, severity, user_id, currency, transaction_id, detected_at, business_date, score,
       amount, parameters, explanation, file_id, line_no
from final
