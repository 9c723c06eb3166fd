-- user_balances: one row per user. The balance, currency and last transaction are those of the user's
-- latest applied transaction (by time, then transaction id; refused ones never changed it); payment_balance is the latest one printed (legacy
-- transactions have none). Totals are gross amounts (VAT included) in the user's current currency only,
-- so they never add two currencies (count_currencies > 1 says there is more). A user is overdrawn when the
-- latest balance is below zero, since the first transaction of that unbroken negative streak; the wallet, when
-- the latest printed payment balance is below zero, since the first transaction of its unbroken negative streak
-- (transactions that print no wallet, the legacy schema, neither break nor start it).

with

discrepancies as (
    select user_id, status from discrepancy_report where user_id is not null
    {%- if scoped %}
      and {{ user_in_scope('user_id') }}
    {%- endif %}
),

findings as (
    select user_id from anomalies where user_id is not null
    {%- if scoped %}
      and {{ user_in_scope('user_id') }}
    {%- endif %}
),

per_currency as (
    -- one pass over the user's applied transactions (grouped by currency first: SQLite then sorts the rows instead of reading
    -- them in index order one by one): totals per user and currency (the user's current currency is only known
    -- afterwards), and the positions of the rows the later steps look up by (user_key, ledger_seq)
    select
        user_key, user_id, currency,
        min(ts) as first_seen_at,
        count(*) as count_transactions,
        sum(case when type = 'DEBIT' then 1 else 0 end) as count_debits,
        sum(case when type = 'CREDIT' then 1 else 0 end) as count_credits,
        sum(case when type = 'DEBIT' then amount else 0 end) as total_debit,
        sum(case when type = 'CREDIT' then amount else 0 end) as total_credit,
        sum(coalesce(vat, 0)) as total_vat,
        sum(case when is_continuity_break then 1 else 0 end) as count_continuity_breaks,
        max(ledger_seq) as last_seq,
        max(case when payment_balance is not null then ledger_seq end) as last_printed_seq,
        max(case when new_balance >= 0 then ledger_seq end) as last_non_negative_seq,
        max(case when payment_balance >= 0 then ledger_seq end) as last_non_negative_wallet_seq
    from int_ledger
    where user_id is not null and is_applied
    group by currency, user_key, user_id
),

per_user as (
    select
        user_key, user_id,
        min(first_seen_at) as first_seen_at,
        sum(count_transactions) as count_transactions,
        sum(count_debits) as count_debits,
        sum(count_credits) as count_credits,
        sum(count_continuity_breaks) as count_continuity_breaks,
        count(currency) as count_currencies,
        max(last_seq) as last_seq,
        max(last_printed_seq) as last_printed_seq,
        max(last_non_negative_seq) as last_non_negative_seq,
        max(last_non_negative_wallet_seq) as last_non_negative_wallet_seq
    from per_currency
    group by user_id, user_key  -- in user_id order: the order user_balances is written in
),

latest as (
    -- the user's latest applied transaction (by time, then id) and the latest printed payment balance
    select
        per_user.*,
        last_row.currency, last_row.new_balance as balance, last_row.transaction_id as last_transaction_id,
        last_row.ts as last_seen_at, printed_row.payment_balance
    from per_user
    join int_ledger last_row on last_row.user_key = per_user.user_key and last_row.ledger_seq = per_user.last_seq
    left join int_ledger printed_row
      on printed_row.user_key = per_user.user_key and printed_row.ledger_seq = per_user.last_printed_seq
),

-- A sum over all the user's transactions that adds the amount in the current currency and 0 for the others:
-- NULL only if every transaction is in the current currency and none has an amount.
{%- macro current_total(column) -%}
coalesce(totals.{{ column }}, case when totals.currency_transactions = totals.count_transactions then null else 0 end)
{%- endmacro %}

totals as (
    -- totals in the current currency only, so two currencies are never added
    select latest.*, per_currency.total_debit, per_currency.total_credit, per_currency.total_vat,
           per_currency.count_transactions as currency_transactions
    from latest
    left join per_currency on per_currency.user_key = latest.user_key and per_currency.currency = latest.currency
),

discrepancies_per_user as (
    select
        user_id,
        count(*) as count_discrepancies,
        sum(case when status = 'open' then 1 else 0 end) as count_open_discrepancies
    from discrepancies
    group by user_id
),

findings_per_user as (
    select user_id, count(*) as count_anomalies from findings group by user_id
),

final as (
    select
        totals.user_id,
        totals.currency,
        totals.balance,
        totals.payment_balance,
        totals.first_seen_at,
        totals.last_seen_at,
        totals.last_transaction_id,
        totals.count_transactions,
        totals.count_debits,
        totals.count_credits,
        {{ current_total('total_debit') }} as total_debit,
        {{ current_total('total_credit') }} as total_credit,
        {{ current_total('total_vat') }} as total_vat,
        coalesce(totals.balance < 0, false) as is_overdrawn,
        -- the first transaction of the unbroken negative run (ts grows with ledger_seq)
        case when totals.balance < 0 then
            (select min(run.ts) from int_ledger run
             where run.user_key = totals.user_key and run.is_applied
               and run.ledger_seq > coalesce(totals.last_non_negative_seq, 0))
        end as overdrawn_since,
        case when totals.payment_balance < 0 then
            (select min(run.ts) from int_ledger run
             where run.user_key = totals.user_key and run.is_applied and run.payment_balance is not null
               and run.ledger_seq > coalesce(totals.last_non_negative_wallet_seq, 0))
        end as wallet_overdrawn_since,
        coalesce(discrepancies_per_user.count_discrepancies, 0) as count_discrepancies,
        coalesce(discrepancies_per_user.count_open_discrepancies, 0) as count_open_discrepancies,
        totals.count_continuity_breaks,
        coalesce(findings_per_user.count_anomalies, 0) as count_anomalies,
        (totals.user_id in :test_user_ids or totals.user_id not like :uuid_shape) as is_test_user,
        totals.count_currencies
    from totals
    left join discrepancies_per_user on discrepancies_per_user.user_id = totals.user_id
    left join findings_per_user on findings_per_user.user_id = totals.user_id
)

select user_id, currency, balance, payment_balance, first_seen_at, last_seen_at, last_transaction_id,
       count_transactions, count_debits, count_credits, total_debit, total_credit, total_vat, is_overdrawn,
       overdrawn_since, wallet_overdrawn_since, count_discrepancies, count_open_discrepancies, count_continuity_breaks,
       count_anomalies,
       is_test_user, count_currencies
from final
