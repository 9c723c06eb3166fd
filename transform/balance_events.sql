-- balance_events: the derived columns of every transaction (one row per transaction_id).
-- The runner turns this select into
--   UPDATE balance_events SET <column> = derived.<column>, … FROM (<this select>) AS derived
--   WHERE balance_events.transaction_id = derived.transaction_id
-- Ledger identity (log-format.md §8.1): expected_new_balance = old_balance − (amount − vat) for a DEBIT,
-- + (amount − vat) for a CREDIT; legacy rows carry the direction inferred by ingest (§8.2).
-- Continuity (§8.7): a user's transactions ordered by time, then transaction id.

with

events as (
    select transaction_id, ts, user_id, currency, type, amount, vat, old_balance, new_balance, payment_balance
    from balance_events
),

currencies as (
    select currency, unit_micros from ref_currencies
),

arithmetic as (
    select
        transaction_id, ts, user_id, currency, old_balance, new_balance, payment_balance,
        new_balance - old_balance as net_change,
        case
            when type = 'DEBIT' then old_balance - (amount - coalesce(vat, 0))
            when type = 'CREDIT' then old_balance + (amount - coalesce(vat, 0))
        end as expected_new_balance
    from events
),

sequenced as (
    select
        arithmetic.*,
        case when user_id is not null
             then row_number() over (partition by user_id order by ts, transaction_id) end as user_seq,
        case when user_id is not null
             then lag(new_balance) over (partition by user_id order by ts, transaction_id) end as prev_new_balance
    from arithmetic
),

flagged as (
    select
        sequenced.*,
        new_balance - expected_new_balance as calc_difference,
        coalesce(abs(new_balance - expected_new_balance) > :tolerance_micros, false) as is_calc_mismatch,
        old_balance - prev_new_balance as continuity_gap,
        coalesce(abs(old_balance - prev_new_balance) > :tolerance_micros, false) as is_continuity_break,
        coalesce(new_balance < 0, false) as is_overdraft_actual,
        coalesce(expected_new_balance < 0, false) as is_overdraft_expected,
        coalesce(payment_balance < 0, false) as is_overdraft_wallet,
        coalesce(old_balance >= 0 and new_balance < 0, false) as is_overdraft_crossing
    from sequenced
),

final as (
    select
        flagged.transaction_id,
        flagged.net_change,
        flagged.expected_new_balance,
        flagged.calc_difference,
        flagged.is_calc_mismatch,
        -- the posting that would bring the balance to what the arithmetic says, in whole minor units
        case when flagged.is_calc_mismatch
             then {{ round_half_up('flagged.expected_new_balance - flagged.new_balance',
                                   'coalesce(currencies.unit_micros, 10000)') }} end as suggested_adjustment,
        flagged.user_seq,
        flagged.prev_new_balance,
        flagged.is_continuity_break,
        flagged.continuity_gap,
        flagged.is_overdraft_actual,
        flagged.is_overdraft_expected,
        flagged.is_overdraft_wallet,
        flagged.is_overdraft_crossing,
        nullif(substr(
            case when flagged.is_overdraft_actual then ',actual' else '' end
            || case when flagged.is_overdraft_expected then ',expected' else '' end
            || case when flagged.is_overdraft_wallet then ',wallet' else '' end
            || case when flagged.is_overdraft_crossing then ',crossing' else '' end, 2), '') as overdraft_reason
    from flagged
    left join currencies on currencies.currency = flagged.currency
)

select
    transaction_id, net_change, expected_new_balance, calc_difference, is_calc_mismatch, suggested_adjustment,
    user_seq, prev_new_balance, is_continuity_break, continuity_gap, is_overdraft_actual, is_overdraft_expected,
    is_overdraft_wallet, is_overdraft_crossing, overdraft_reason
from final
