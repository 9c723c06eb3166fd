-- user_balances: one row per user. The balance, currency and last transaction are those of the user's
-- latest applied transaction (by time, then transaction id; refused ones never changed it); payment_balance is the latest one printed (legacy
-- transactions have none). Totals are gross amounts (VAT included) in the user's current currency only,
-- so they never add two currencies (count_currencies > 1 says there is more). A user is overdrawn when the
-- latest balance is below zero, since the first transaction of that unbroken negative streak.

with

transactions as (
    select transaction_id, user_id, currency, type, amount, vat, new_balance, payment_balance, ts, user_seq,
           is_continuity_break
    from int_ledger
    where user_id is not null and is_applied
),

discrepancies as (
    select user_id, status from discrepancy_report where user_id is not null
),

findings as (
    select user_id from anomalies where user_id is not null
),

latest as (
    select transactions.user_id, transactions.currency, transactions.new_balance as balance,
           transactions.transaction_id as last_transaction_id, transactions.ts as last_seen_at
    from transactions
    join (select user_id, max(user_seq) as user_seq from transactions group by user_id) as last_applied
      on last_applied.user_id = transactions.user_id and last_applied.user_seq = transactions.user_seq
),

latest_payment as (
    select transactions.user_id, transactions.payment_balance
    from transactions
    join (select user_id, max(user_seq) as user_seq from transactions
          where payment_balance is not null group by user_id) as last_printed
      on last_printed.user_id = transactions.user_id and last_printed.user_seq = transactions.user_seq
),

per_user as (
    select
        transactions.user_id,
        min(transactions.ts) as first_seen_at,
        count(*) as count_transactions,
        sum(case when transactions.type = 'DEBIT' then 1 else 0 end) as count_debits,
        sum(case when transactions.type = 'CREDIT' then 1 else 0 end) as count_credits,
        sum(case when transactions.type = 'DEBIT' and transactions.currency = latest.currency
                 then transactions.amount else 0 end) as total_debit,
        sum(case when transactions.type = 'CREDIT' and transactions.currency = latest.currency
                 then transactions.amount else 0 end) as total_credit,
        sum(case when transactions.currency = latest.currency then coalesce(transactions.vat, 0) else 0 end)
            as total_vat,
        sum(case when transactions.is_continuity_break then 1 else 0 end) as count_continuity_breaks,
        count(distinct transactions.currency) as count_currencies,
        max(case when transactions.new_balance >= 0 then transactions.user_seq end) as last_non_negative_seq
    from transactions
    join latest on latest.user_id = transactions.user_id
    group by transactions.user_id
),

overdraft_start as (
    select transactions.user_id, min(transactions.ts) as overdrawn_since
    from transactions
    join per_user on per_user.user_id = transactions.user_id
    where transactions.user_seq > coalesce(per_user.last_non_negative_seq, 0)
    group by transactions.user_id
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
        latest.user_id,
        latest.currency,
        latest.balance,
        latest_payment.payment_balance,
        per_user.first_seen_at,
        latest.last_seen_at,
        latest.last_transaction_id,
        per_user.count_transactions,
        per_user.count_debits,
        per_user.count_credits,
        per_user.total_debit,
        per_user.total_credit,
        per_user.total_vat,
        coalesce(latest.balance < 0, false) as is_overdrawn,
        case when latest.balance < 0 then overdraft_start.overdrawn_since end as overdrawn_since,
        coalesce(discrepancies_per_user.count_discrepancies, 0) as count_discrepancies,
        coalesce(discrepancies_per_user.count_open_discrepancies, 0) as count_open_discrepancies,
        per_user.count_continuity_breaks,
        coalesce(findings_per_user.count_anomalies, 0) as count_anomalies,
        (latest.user_id in :test_user_ids or latest.user_id not like :uuid_shape) as is_test_user,
        per_user.count_currencies
    from latest
    join per_user on per_user.user_id = latest.user_id
    left join latest_payment on latest_payment.user_id = latest.user_id
    left join overdraft_start on overdraft_start.user_id = latest.user_id
    left join discrepancies_per_user on discrepancies_per_user.user_id = latest.user_id
    left join findings_per_user on findings_per_user.user_id = latest.user_id
)

select user_id, currency, balance, payment_balance, first_seen_at, last_seen_at, last_transaction_id,
       count_transactions, count_debits, count_credits, total_debit, total_credit, total_vat, is_overdrawn,
       overdrawn_since, count_discrepancies, count_open_discrepancies, count_continuity_breaks, count_anomalies,
       is_test_user, count_currencies
from final
