-- discrepancy_report: one row per mismatch (docs/transforms.md#discrepancy_report).
--   sync         the Lambda's "not in sync" ERROR, tied to its own transaction through the SQS message
--                (not_in_sync_events.transaction_id, set by ingest; never by time window or request id alone)
--   wallet       payment_balance ≠ new_balance on the transaction itself
--   calculation  the ledger identity is broken (balance_events.is_calc_mismatch)
--   continuity   old_balance ≠ the user's previous new_balance (balance_events.is_continuity_break)
-- A discrepancy is resolved at the user's first later transaction that no longer shows that disagreement
-- (for sync and wallet: the subscription and payment balances agree again); open while the user's latest
-- transaction still shows it. Differences are signed: subscription side minus payment (or expected) side.

with

transactions as (
    select
        transaction_id, ts, business_date, user_id, currency, type, amount, vat, old_balance, new_balance,
        payment_balance, expected_new_balance, calc_difference, is_calc_mismatch, user_seq, prev_new_balance,
        is_continuity_break, continuity_gap, event_id, file_id, line_no
    from balance_events
),

not_in_sync as (
    select
        event_id, ts, business_date, transaction_id, user_id, subscription_balance, payment_balance,
        subscription_balance_meaning, file_id, line_no
    from not_in_sync_events
),

currencies as (
    select currency, unit_micros, pow10 from ref_currencies
),

errors_per_transaction as (
    select transaction_id, count(*) as count_errors
    from not_in_sync
    where transaction_id is not null
    group by transaction_id
),

states as (
    select
        transactions.*,
        coalesce(errors_per_transaction.count_errors, 0) > 0
            or coalesce(abs(transactions.payment_balance - transactions.new_balance) > :tolerance_micros, false)
            as is_out_of_sync,
        lag(transactions.ts) over by_user as prev_ts,
        lag(transactions.transaction_id) over by_user as prev_transaction_id,
        max(transactions.ts) over (partition by transactions.user_id) as user_last_ts
    from transactions
    left join errors_per_transaction on errors_per_transaction.transaction_id = transactions.transaction_id
    window by_user as (partition by transactions.user_id order by transactions.user_seq)
),

resolutions as (
    -- For each transaction: when each kind of disagreement next stops (the first later transaction without
    -- it) and the last time it was still seen before that. ts never decreases along user_seq, so MIN over
    -- the following rows picks the first such transaction.
    select
        states.*,
        min(case when not is_out_of_sync then ts end) over later as sync_resolved_at,
        min(case when not is_out_of_sync then prev_ts end) over later as sync_last_seen_at,
        min(case when not is_calc_mismatch then ts end) over later as calc_resolved_at,
        min(case when not is_calc_mismatch then prev_ts end) over later as calc_last_seen_at,
        min(case when not is_continuity_break then ts end) over later as continuity_resolved_at,
        min(case when not is_continuity_break then prev_ts end) over later as continuity_last_seen_at
    from states
    window later as (partition by user_id order by user_seq rows between 1 following and unbounded following)
),

sync_rows as (
    select
        'sync' as kind,
        coalesce(not_in_sync.user_id, resolutions.user_id) as user_id,
        resolutions.currency,
        not_in_sync.transaction_id,
        not_in_sync.event_id,
        not_in_sync.ts as detected_at,
        not_in_sync.business_date,
        not_in_sync.subscription_balance,
        not_in_sync.payment_balance,
        not_in_sync.subscription_balance - not_in_sync.payment_balance as difference,
        cast(null as bigint) as expected_balance,
        resolutions.sync_resolved_at as resolved_at,
        coalesce(resolutions.sync_last_seen_at, resolutions.user_last_ts, not_in_sync.ts) as last_seen_at,
        resolutions.transaction_id is not null as is_tied,
        not_in_sync.file_id,
        not_in_sync.line_no,
        'The Lambda reported that the subscription balance ('
            || {{ money('not_in_sync.subscription_balance', 'cur', 'resolutions.currency') }}
            || case when not_in_sync.subscription_balance_meaning = 'old_balance'
                    then ', before the transaction' else ', after the transaction' end
            || ') and the payment balance (' || {{ money('not_in_sync.payment_balance', 'cur', 'resolutions.currency') }}
            || ') are not in sync, a difference of '
            || {{ money('not_in_sync.subscription_balance - not_in_sync.payment_balance', 'cur', 'resolutions.currency') }}
            || case when resolutions.transaction_id is not null
                    then ', on transaction ' || not_in_sync.transaction_id || '.'
                    else '; no transaction block precedes it in its SQS message, so it is tied to none.' end
            as explanation
    from not_in_sync
    left join resolutions on resolutions.transaction_id = not_in_sync.transaction_id
    left join currencies cur on cur.currency = resolutions.currency
),

wallet_rows as (
    select
        'wallet' as kind,
        user_id, resolutions.currency, transaction_id, event_id, ts as detected_at, business_date,
        new_balance as subscription_balance,
        payment_balance,
        new_balance - payment_balance as difference,
        cast(null as bigint) as expected_balance,
        sync_resolved_at as resolved_at,
        coalesce(sync_last_seen_at, user_last_ts) as last_seen_at,
        true as is_tied,
        file_id, line_no,
        'Transaction ' || transaction_id || ' left the subscription balance at '
            || {{ money('new_balance', 'cur', 'resolutions.currency') }} || ' but the payment wallet at '
            || {{ money('payment_balance', 'cur', 'resolutions.currency') }} || ', a difference of '
            || {{ money('new_balance - payment_balance', 'cur', 'resolutions.currency') }} || '.' as explanation
    from resolutions
    left join currencies cur on cur.currency = resolutions.currency
    where abs(payment_balance - new_balance) > :tolerance_micros
),

calculation_rows as (
    select
        'calculation' as kind,
        user_id, resolutions.currency, transaction_id, event_id, ts as detected_at, business_date,
        new_balance as subscription_balance,
        payment_balance,
        calc_difference as difference,
        expected_new_balance as expected_balance,
        calc_resolved_at as resolved_at,
        coalesce(calc_last_seen_at, user_last_ts) as last_seen_at,
        true as is_tied,
        file_id, line_no,
        'Transaction ' || transaction_id || ' (' || lower(coalesce(type, 'unknown direction')) || ' of '
            || {{ money('amount', 'cur', 'resolutions.currency') }} || ' including '
            || {{ money_text('vat', 'cur') }} || ' VAT) should have moved the balance from '
            || {{ money_text('old_balance', 'cur') }} || ' to '
            || {{ money_text('expected_new_balance', 'cur') }} || ', but the log shows '
            || {{ money_text('new_balance', 'cur') }} || ', off by '
            || {{ money('calc_difference', 'cur', 'resolutions.currency') }} || '.' as explanation
    from resolutions
    left join currencies cur on cur.currency = resolutions.currency
    where is_calc_mismatch
),

continuity_rows as (
    select
        'continuity' as kind,
        user_id, resolutions.currency, transaction_id, event_id, ts as detected_at, business_date,
        old_balance as subscription_balance,
        payment_balance,
        continuity_gap as difference,
        prev_new_balance as expected_balance,
        continuity_resolved_at as resolved_at,
        coalesce(continuity_last_seen_at, user_last_ts) as last_seen_at,
        true as is_tied,
        file_id, line_no,
        'Transaction ' || transaction_id || ' starts from ' || {{ money('old_balance', 'cur', 'resolutions.currency') }}
            || ', but the previous transaction of this user (' || coalesce(prev_transaction_id, '?') || ') ended at '
            || {{ money_text('prev_new_balance', 'cur') }} || ': '
            || {{ money('continuity_gap', 'cur', 'resolutions.currency') }}
            || ' changed without a logged transaction.' as explanation
    from resolutions
    left join currencies cur on cur.currency = resolutions.currency
    where is_continuity_break
),

unioned as (
    select * from sync_rows
    union all select * from wallet_rows
    union all select * from calculation_rows
    union all select * from continuity_rows
),

final as (
    select
        row_number() over (order by detected_at, kind, transaction_id, event_id) as discrepancy_id,
        kind,
        case when resolved_at is null then 'open' else 'resolved' end as status,
        user_id, currency, transaction_id, event_id, detected_at, business_date,
        subscription_balance, payment_balance, difference,
        abs(difference) as amount_at_stake,
        detected_at as first_seen_at,
        case when last_seen_at < detected_at then detected_at else last_seen_at end as last_seen_at,
        resolved_at, file_id, line_no, explanation, expected_balance
    from unioned
)

select
    discrepancy_id, kind, status, user_id, currency, transaction_id, event_id, detected_at, business_date,
    subscription_balance, payment_balance, difference, amount_at_stake, first_seen_at, last_seen_at, resolved_at,
    file_id, line_no, explanation, expected_balance
from final
