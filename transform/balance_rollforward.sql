-- balance_rollforward: one row per currency and business month (docs/transforms.md#balance_rollforward): the
-- users' subscription balances at the month's start, what moved them, and at its end. It ties out exactly:
--   opening_balance + first_seen_balances + credits - debits + calculation_differences + continuity_gaps
--     = closing_balance
-- and a month's opening is the previous closing (transform/invariants/balance_rollforward.yml checks both).
-- credit_vat and debit_vat are the VAT inside those credits and debits (gross = net + VAT), for the accounts.
-- The closing balance is summed from each user's last balance of the month, not from the movements.
-- Read from the applied transactions of known users, in each user's order (by time, then transaction id),
-- one chain per user and currency: the closing balances are user_balances' balances (a user seen in two
-- currencies keeps one in each). A user's first transaction in a currency brings in its old_balance
-- (first_seen_balances: the balance from before the logs); a transaction without a direction or amount moves
-- the balance by new - old, all of it counted as calculation difference.

with

applied as (
    select
        user_key, currency, substr(business_date, 1, 7) as month, type, amount, vat, old_balance, new_balance,
        expected_new_balance, ledger_seq,
        row_number() over by_chain as chain_seq,
        lag(new_balance) over by_chain as prev_new_balance,
        lead(substr(business_date, 1, 7)) over by_chain as next_month
    from int_ledger
    where is_applied and user_id is not null
    window by_chain as (partition by user_key, currency order by ledger_seq)
),

movements as (
    select
        currency, month,
        sum(case when chain_seq = 1 then old_balance else 0 end) as first_seen_balances,
        coalesce(sum(case when type = 'CREDIT' then amount - coalesce(vat, 0) end), 0) as credits,
        coalesce(sum(case when type = 'DEBIT' then amount - coalesce(vat, 0) end), 0) as debits,
        coalesce(sum(case when type = 'CREDIT' then vat end), 0) as credit_vat,
        coalesce(sum(case when type = 'DEBIT' then vat end), 0) as debit_vat,
        sum(new_balance - coalesce(expected_new_balance, old_balance)) as calculation_differences,
        sum(case when chain_seq > 1 then old_balance - prev_new_balance else 0 end) as continuity_gaps,
        count(*) as count_transactions,
        count(distinct user_key) as count_users,
        sum(case when chain_seq = 1 then 1 else 0 end) as count_new_users
    from applied
    group by currency, month
),

month_ends as (
    -- each user's balance after their last transaction of the month: the next one is in a later month, or none
    -- (found in the chain's own window: a second window over every transaction cost a second sort)
    select user_key, currency, month, new_balance as month_end_balance
    from applied
    where next_month is null or next_month <> month
),

changes as (
    select
        currency, month,
        sum(month_end_balance - coalesce(previous_end, 0)) as change
    from (
        select month_ends.*,
               lag(month_end_balance) over (partition by user_key, currency order by month) as previous_end
        from month_ends
    ) chained
    group by currency, month
),

closings as (
    select
        currency, month,
        sum(change) over (partition by currency order by month rows between unbounded preceding and current row)
            as closing_balance,
        change
    from changes
)

select
    movements.currency, movements.month,
    closings.closing_balance - closings.change as opening_balance,
    movements.first_seen_balances, movements.credits, movements.debits, movements.credit_vat, movements.debit_vat,
    movements.calculation_differences, movements.continuity_gaps, closings.closing_balance,
    movements.count_transactions, movements.count_users, movements.count_new_users
from movements
join closings on closings.currency = movements.currency and closings.month = movements.month
