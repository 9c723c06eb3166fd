-- int_ledger: one row per transaction, narrow, with every per-user window computed once.
-- balance_events is wide (metadata JSON, literals), so the later steps (the balance_events update,
-- discrepancy_report, the detectors, user_balances) read this table instead. Dropped after the build.
-- Ledger identity (log-format.md §8.1): expected_new_balance = old_balance − (amount − vat) for a DEBIT,
-- + (amount − vat) for a CREDIT; legacy rows carry the direction inferred by ingest (§8.2); a missing vat
-- counts as 0. Continuity (§8.7): a user's transactions ordered by time, then transaction id.
-- A transaction the Lambda refused (negative-balance guard after its sync block, outcome
-- 'refused_negative_balance') never changed the balance: it is kept and checked, but the balance after it is
-- its old_balance (what the next transaction continues from) and it is never an 'actual'/'crossing' overdraft.

with

events as (
    select transaction_id, user_id, currency, type, schema, source, action, amount, vat, old_balance,
           new_balance, payment_balance, is_float_noise, ts, ts_ms, business_date, event_id, file_id, line_no,
           coalesce(outcome, 'unknown') <> 'refused_negative_balance' as is_applied,
           case when coalesce(outcome, 'unknown') = 'refused_negative_balance' then old_balance else new_balance end
               as balance_after
    from balance_events
),

not_in_sync as (
    select transaction_id from not_in_sync_events where transaction_id is not null
),

currencies as (
    select currency, unit_micros from ref_currencies
),

errors_per_transaction as (
    select transaction_id, count(*) as count_sync_errors from not_in_sync group by transaction_id
),

arithmetic as (
    select
        events.*,
        coalesce(errors_per_transaction.count_sync_errors, 0) as count_sync_errors,
        events.new_balance - events.old_balance as net_change,
        case
            when events.type = 'DEBIT' then events.old_balance - (events.amount - coalesce(events.vat, 0))
            when events.type = 'CREDIT' then events.old_balance + (events.amount - coalesce(events.vat, 0))
        end as expected_new_balance,
        coalesce(currencies.unit_micros, 10000) as unit_micros
    from events
    left join errors_per_transaction on errors_per_transaction.transaction_id = events.transaction_id
    left join currencies on currencies.currency = events.currency
),

sequenced as (
    select
        arithmetic.*,
        row_number() over by_user as user_seq,
        lag(balance_after) over by_user as prev_new_balance,
        lag(transaction_id) over by_user as prev_transaction_id,
        lag(ts) over by_user as prev_ts,
        lag(ts_ms) over by_user as prev_ts_ms,
        count(*) over (partition by user_id) as count_user_transactions
    from arithmetic
    window by_user as (partition by user_id order by ts, transaction_id)
),

flagged as (
    select
        sequenced.*,
        new_balance - expected_new_balance as calc_difference,
        coalesce(abs(new_balance - expected_new_balance) > :tolerance_micros, false) as is_calc_mismatch,
        old_balance - prev_new_balance as continuity_gap,
        coalesce(abs(old_balance - prev_new_balance) > :tolerance_micros, false) as is_continuity_break,
        count_sync_errors > 0
            or coalesce(abs(payment_balance - new_balance) > :tolerance_micros, false) as is_out_of_sync,
        coalesce(is_applied and new_balance < 0, false) as is_overdraft_actual,
        coalesce(expected_new_balance < 0, false) as is_overdraft_expected,
        coalesce(payment_balance < 0, false) as is_overdraft_wallet,
        coalesce(is_applied and old_balance >= 0 and new_balance < 0, false) as is_overdraft_crossing
    from sequenced
),

resolved as (
    -- For each transaction, when each kind of disagreement stops (the user's first later transaction
    -- without it) and the last time it was still seen before that. ts never decreases along user_seq, so
    -- MIN over the following rows picks the first such transaction. The window runs backwards (latest
    -- first, frame = the rows before) because a growing frame is computed incrementally, while a
    -- shrinking "1 following .. unbounded following" frame makes SQLite rescan it for every row.
    select
        flagged.*,
        min(case when not is_out_of_sync then ts end) over later as sync_resolved_at,
        min(case when not is_out_of_sync then prev_ts end) over later as sync_last_seen_at,
        min(case when not is_calc_mismatch then ts end) over later as calc_resolved_at,
        min(case when not is_calc_mismatch then prev_ts end) over later as calc_last_seen_at,
        min(case when not is_continuity_break then ts end) over later as continuity_resolved_at,
        min(case when not is_continuity_break then prev_ts end) over later as continuity_last_seen_at,
        max(ts) over later as user_last_ts
    from flagged
    window later as (partition by user_id order by user_seq desc rows between unbounded preceding and 1 preceding)
),

final as (
    select
        resolved.*,
        case when is_calc_mismatch
             -- the posting that would bring the balance to what the arithmetic says, in whole minor units
             then {{ round_half_up('expected_new_balance - new_balance', 'unit_micros') }} end as suggested_adjustment,
        nullif(substr(
            case when is_overdraft_actual then ',actual' else '' end
            || case when is_overdraft_expected then ',expected' else '' end
            || case when is_overdraft_wallet then ',wallet' else '' end
            || case when is_overdraft_crossing then ',crossing' else '' end, 2), '') as overdraft_reason
    from resolved
)

select
    transaction_id, user_id, currency, type, schema, source, action, amount, vat, old_balance, new_balance,
    payment_balance, is_float_noise, ts, ts_ms, business_date, event_id, file_id, line_no, is_applied,
    net_change, expected_new_balance, calc_difference, is_calc_mismatch, suggested_adjustment,
    case when user_id is not null then user_seq end as user_seq,
    case when user_id is not null then prev_new_balance end as prev_new_balance,
    is_continuity_break and user_id is not null as is_continuity_break,
    case when user_id is not null then continuity_gap end as continuity_gap,
    is_overdraft_actual, is_overdraft_expected, is_overdraft_wallet, is_overdraft_crossing, overdraft_reason,
    prev_transaction_id, prev_ts, prev_ts_ms, count_sync_errors, is_out_of_sync,
    coalesce(user_last_ts, ts) as user_last_ts, user_last_ts is null as is_user_latest,
    sync_resolved_at, sync_last_seen_at, calc_resolved_at, calc_last_seen_at, continuity_resolved_at,
    continuity_last_seen_at
from final
