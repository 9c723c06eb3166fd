-- balance_rollforward_users: one row per user, currency and business month in which the user had an applied
-- transaction in that currency (docs/transforms.md#balance_rollforward_users): the user's part of
-- balance_rollforward, which sums these rows, so each month's figures trace to the users that make them. Each
-- row ties out on its own:
--   opening_balance + first_seen_balance + credits - debits + calculation_differences + continuity_gaps
--     = closing_balance
-- where opening_balance is the user's closing balance of their previous month in this currency (0 before
-- their first) and closing_balance the balance after their last applied transaction of the month.
-- One chain per user and currency, month by month and within a month in the user's order (by time, then
-- transaction id): a user seen in two currencies keeps a balance in each. The first transaction of a chain
-- brings in its old_balance (first_seen_balance: the balance from before the logs); a transaction without a
-- direction or amount moves the balance by new - old, all of it counted as calculation difference.

with

{%- if scoped %}

last_kept as (
    -- a changed user read whole (scope_users.reads_whole): each chain's last month before the user's first month
    -- that can have changed (scope_users.since_month): the rows up to it stay as stored, and the chain goes on
    -- from its closing balance
    select stored.user_id, stored.currency, max(stored.month) as month
    from balance_rollforward_users stored
    join scope_users changes on changes.user_id = stored.user_id
    where changes.reads_whole and stored.month < changes.since_month
    group by stored.user_id, stored.currency
),

kept as (
    select changes.user_key, stored.user_id, stored.currency, stored.month, stored.closing_balance
    from last_kept
    join balance_rollforward_users stored
      on stored.user_id = last_kept.user_id and stored.currency = last_kept.currency and stored.month = last_kept.month
    join scope_users changes on changes.user_id = stored.user_id
),

carried as (
    -- a changed user read in part: every stored row counts transactions before the tail, which is all in one
    -- currency and in no month before that chain's last (transform/scope_users.sql). The chain goes on from its
    -- last month's stored row, which the tail's transactions in that month add to
    select changes.user_key, stored.*
    from scope_users changes
    join balance_rollforward_users stored
      on stored.user_id = changes.user_id and stored.currency = changes.carry_currency
     and stored.month = changes.carry_month
    where not changes.reads_whole
),
{%- endif %}

ledger as (
    select
        int_ledger.user_key, int_ledger.user_id, currency, substr(business_date, 1, 7) as month, type, amount, vat,
        old_balance, new_balance, expected_new_balance, ledger_seq, false as is_kept
    from int_ledger
    {%- if scoped %}
    join scope_users changes on changes.user_id = int_ledger.user_id
    where is_applied and (changes.reads_whole and substr(business_date, 1, 7) >= changes.since_month
                          or not changes.reads_whole and is_tail)
    union all
    -- the kept or carried month as the chain's row before the ones derived again
    select user_key, user_id, currency, month, null, null, null, null, closing_balance, null, 0, true
    from kept
    union all
    select user_key, user_id, currency, month, null, null, null, null, closing_balance, null, 0, true
    from carried
    {%- else %}
    where is_applied and user_id is not null
    {%- endif %}
),

applied as (
    select
        ledger.*,
        row_number() over by_chain as chain_seq,
        lag(new_balance) over by_chain as prev_new_balance,
        lead(month) over by_chain as next_month
    from ledger
    -- (+user_key: SQLite then reads the table in one pass and sorts it, instead of walking ix_int_ledger_user and
    -- looking each row up, which cost 0.65 s more for the nightly batch's 635,000 transactions)
    window by_chain as (partition by +user_key, currency order by month, ledger_seq)
),

months as (
    select
        user_key, user_id, currency, month,
        sum(case when chain_seq = 1 then old_balance else 0 end) as first_seen_balance,
        coalesce(sum(case when type = 'CREDIT' then amount - coalesce(vat, 0) end), 0) as credits,
        coalesce(sum(case when type = 'DEBIT' then amount - coalesce(vat, 0) end), 0) as debits,
        coalesce(sum(case when type = 'CREDIT' then vat end), 0) as credit_vat,
        coalesce(sum(case when type = 'DEBIT' then vat end), 0) as debit_vat,
        sum(new_balance - coalesce(expected_new_balance, old_balance)) as calculation_differences,
        sum(case when chain_seq > 1 then old_balance - prev_new_balance else 0 end) as continuity_gaps,
        count(*) as count_transactions,
        max(case when chain_seq = 1 then 1 else 0 end) = 1 as is_new_user,
        -- the month's last transaction of the chain: the one whose next is in another month, or none
        max(case when next_month is null or next_month <> month then new_balance end) as closing_balance,
        false as is_kept
    from applied
    where not is_kept
    group by user_key, user_id, currency, month
    {%- if scoped %}
    union all
    select user_key, user_id, currency, month, 0, 0, 0, 0, 0, 0, 0, 0, false, closing_balance, true
    from kept
),

merged as (
    -- the carried month: its stored figures and the tail's in it, closing where the tail's last one in it does
    select
        user_key, user_id, currency, month,
        sum(first_seen_balance) as first_seen_balance, sum(credits) as credits, sum(debits) as debits,
        sum(credit_vat) as credit_vat, sum(debit_vat) as debit_vat,
        sum(calculation_differences) as calculation_differences, sum(continuity_gaps) as continuity_gaps,
        sum(count_transactions) as count_transactions,
        max(case when is_new_user then 1 else 0 end) = 1 as is_new_user,
        case when max(case when is_carried then 0 else 1 end) = 1
             then max(case when not is_carried then closing_balance end)
             else max(closing_balance) end as closing_balance,
        max(opening_balance) as carried_opening, is_kept
    from (
        select months.*, false as is_carried, cast(null as bigint) as opening_balance from months
        union all
        select user_key, user_id, currency, month, first_seen_balance, credits, debits, credit_vat, debit_vat,
               calculation_differences, continuity_gaps, count_transactions, is_new_user, closing_balance, false,
               true, opening_balance
        from carried
    ) parts
    group by user_key, user_id, currency, month, is_kept
    {%- endif %}
),

opened as (
    select
        {%- if scoped %}
        merged.*,
        -- (a carried month's: the stored one)
        coalesce(lag(closing_balance) over (partition by user_key, currency order by month), carried_opening, 0)
            as opening_balance
    from merged
        {%- else %}
        months.*,
        coalesce(lag(closing_balance) over (partition by user_key, currency order by month), 0) as opening_balance
    from months
        {%- endif %}
)

select
    user_id, currency, month, opening_balance, first_seen_balance, credits, debits, credit_vat, debit_vat,
    calculation_differences, continuity_gaps, closing_balance, count_transactions, is_new_user
from opened
where not is_kept
