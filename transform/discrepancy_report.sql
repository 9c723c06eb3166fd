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

ledger as (
    -- per-transaction flags and when each disagreement was resolved: computed once in int_ledger.sql
    select
        transaction_id, ts, business_date, user_id, currency, type, amount, vat, old_balance, new_balance,
        payment_balance, expected_new_balance, calc_difference, is_calc_mismatch, prev_new_balance,
        prev_transaction_id, is_continuity_break, continuity_gap, user_last_ts, sync_resolved_at,
        sync_last_seen_at, calc_resolved_at, calc_last_seen_at, continuity_resolved_at, continuity_last_seen_at,
        event_id, file_id, line_no
    from int_ledger
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

sync_rows as (
    select
        'sync' as kind,
        coalesce(not_in_sync.user_id, ledger.user_id) as user_id,
        ledger.currency,
        not_in_sync.transaction_id,
        not_in_sync.event_id,
        not_in_sync.ts as detected_at,
        not_in_sync.business_date,
        not_in_sync.subscription_balance,
        not_in_sync.payment_balance,
        not_in_sync.subscription_balance - not_in_sync.payment_balance as difference,
        cast(null as bigint) as expected_balance,
        ledger.sync_resolved_at as resolved_at,
        coalesce(ledger.sync_last_seen_at, ledger.user_last_ts, not_in_sync.ts) as last_seen_at,
        ledger.transaction_id is not null as is_tied,
        not_in_sync.file_id,
        not_in_sync.line_no,
        'The Lambda reported that the subscription balance ('
            || {{ money('not_in_sync.subscription_balance', 'cur', 'ledger.currency') }}
            || case when not_in_sync.subscription_balance_meaning = 'old_balance'
                    then ', before the transaction' else ', after the transaction' end
            || ') and the payment balance (' || {{ money('not_in_sync.payment_balance', 'cur', 'ledger.currency') }}
            || ') are not in sync, a difference of '
            || {{ money('not_in_sync.subscription_balance - not_in_sync.payment_balance', 'cur', 'ledger.currency') }}
            || case when ledger.transaction_id is not null
                    then ', on transaction ' || not_in_sync.transaction_id || '.'
                    else '; no transaction block precedes it in its SQS message, so it is tied to none.' end
            as explanation
    from not_in_sync
    left join ledger on ledger.transaction_id = not_in_sync.transaction_id
    left join currencies cur on cur.currency = ledger.currency
),

wallet_rows as (
    select
        'wallet' as kind,
        user_id, ledger.currency, transaction_id, event_id, ts as detected_at, business_date,
        new_balance as subscription_balance,
        payment_balance,
        new_balance - payment_balance as difference,
        cast(null as bigint) as expected_balance,
        sync_resolved_at as resolved_at,
        coalesce(sync_last_seen_at, user_last_ts) as last_seen_at,
        true as is_tied,
        file_id, line_no,
        'Transaction ' || transaction_id || ' left the subscription balance at '
            || {{ money('new_balance', 'cur', 'ledger.currency') }} || ' but the payment wallet at '
            || {{ money('payment_balance', 'cur', 'ledger.currency') }} || ', a difference of '
            || {{ money('new_balance - payment_balance', 'cur', 'ledger.currency') }} || '.' as explanation
    from ledger
    left join currencies cur on cur.currency = ledger.currency
    where abs(payment_balance - new_balance) > :tolerance_micros
),

calculation_rows as (
    select
        'calculation' as kind,
        user_id, ledger.currency, transaction_id, event_id, ts as detected_at, business_date,
        new_balance as subscription_balance,
        payment_balance,
        calc_difference as difference,
        expected_new_balance as expected_balance,
        calc_resolved_at as resolved_at,
        coalesce(calc_last_seen_at, user_last_ts) as last_seen_at,
        true as is_tied,
        file_id, line_no,
        'Transaction ' || transaction_id || ' (' || lower(coalesce(type, 'unknown direction')) || ' of '
            || {{ money('amount', 'cur', 'ledger.currency') }} || ' including '
            || {{ money_text('vat', 'cur') }} || ' VAT) should have moved the balance from '
            || {{ money_text('old_balance', 'cur') }} || ' to '
            || {{ money_text('expected_new_balance', 'cur') }} || ', but the log shows '
            || {{ money_text('new_balance', 'cur') }} || ', off by '
            || {{ money('calc_difference', 'cur', 'ledger.currency') }} || '.' as explanation
    from ledger
    left join currencies cur on cur.currency = ledger.currency
    where is_calc_mismatch
),

continuity_rows as (
    select
        'continuity' as kind,
        user_id, ledger.currency, transaction_id, event_id, ts as detected_at, business_date,
        old_balance as subscription_balance,
        payment_balance,
        continuity_gap as difference,
        prev_new_balance as expected_balance,
        continuity_resolved_at as resolved_at,
        coalesce(continuity_last_seen_at, user_last_ts) as last_seen_at,
        true as is_tied,
        file_id, line_no,
        'Transaction ' || transaction_id || ' starts from ' || {{ money('old_balance', 'cur', 'ledger.currency') }}
            || ', but the previous transaction of this user (' || coalesce(prev_transaction_id, '?') || ') ended at '
            || {{ money_text('prev_new_balance', 'cur') }} || ': '
            || {{ money('continuity_gap', 'cur', 'ledger.currency') }}
            || ' changed without a logged transaction.' as explanation
    from ledger
    left join currencies cur on cur.currency = ledger.currency
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
