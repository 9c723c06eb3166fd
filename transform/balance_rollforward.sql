-- balance_rollforward: one row per currency and business month (docs/transforms.md#balance_rollforward): the
-- users' subscription balances at the month's start, what moved them, and at its end. It ties out exactly:
--   opening_balance + first_seen_balances + credits - debits + calculation_differences + continuity_gaps
--     = closing_balance
-- and a month's opening is the previous closing (transform/invariants/balance_rollforward.yml checks both).
-- credit_vat and debit_vat are the VAT inside those credits and debits (gross = net + VAT), for the accounts.
-- The sum of balance_rollforward_users (one row per user, currency and month, each tying out the same way):
-- the closing balance is summed from each user's last balance of the month, not from the movements, so the
-- last month's closing balances are user_balances' balances. A user with no transaction in a month still
-- counts in its closing balance, with the balance they ended their last month at.

with

movements as (
    select
        currency, month,
        sum(first_seen_balance) as first_seen_balances,
        sum(credits) as credits,
        sum(debits) as debits,
        sum(credit_vat) as credit_vat,
        sum(debit_vat) as debit_vat,
        sum(calculation_differences) as calculation_differences,
        sum(continuity_gaps) as continuity_gaps,
        sum(count_transactions) as count_transactions,
        count(*) as count_users,
        sum(case when is_new_user then 1 else 0 end) as count_new_users,
        -- how the month moved the sum of the users' balances: each user's closing less where they stood before
        sum(closing_balance - opening_balance) as change
    from balance_rollforward_users
    group by currency, month
),

closings as (
    select
        movements.*,
        sum(change) over (partition by currency order by month rows between unbounded preceding and current row)
            as closing_balance
    from movements
)

select
    currency, month, closing_balance - change as opening_balance, first_seen_balances, credits, debits, credit_vat,
    debit_vat, calculation_differences, continuity_gaps, closing_balance, count_transactions, count_users,
    count_new_users
from closings
