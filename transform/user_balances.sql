-- user_balances: one row per user. The balance, currency and last transaction are those of the user's
-- latest applied transaction (by time, then transaction id; refused ones never changed it); payment_balance is the latest one printed (legacy
-- transactions have none). Totals are gross amounts (VAT included) in the user's current currency only,
-- so they never add two currencies (count_currencies > 1 says there is more). A user is overdrawn when the
-- latest balance is below zero, since the first transaction of that unbroken negative streak; the wallet, when
-- the latest printed payment balance is below zero, since the first transaction of its unbroken negative streak
-- (transactions that print no wallet, the legacy schema, neither break nor start it).

{#- the counts and sums of a set of applied transactions, and the places (ledger_seq) of the ones looked up after:
    the last, the last with a payment balance, the last with a balance (a payment balance) at or above zero -#}
{%- macro sums_and_places() -%}
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
{%- endmacro %}

{#- when the user's unbroken negative run began: the first of their applied transactions (that meet `condition`)
    after the place `after_seq` (ts grows with ledger_seq) -#}
{%- macro run_start(user_key, after_seq, condition='') -%}
(select min(run.ts) from int_ledger run
             where run.user_key = {{ user_key }} and run.is_applied{{ condition }}
               and run.ledger_seq > coalesce({{ after_seq }}, 0))
{%- endmacro %}

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

{%- if scoped %}

tails as (
    -- the changed users' applied transactions from their first change on: what a carried row adds (+user_key:
    -- SQLite then reads the table once and sorts these few rows, instead of walking ix_int_ledger_user)
    select
        +user_key as user_key,
        {{ sums_and_places() }},
        count(currency) as count_with_currency, min(currency) as min_currency, max(currency) as max_currency
    from int_ledger
    where is_tail and is_applied and user_id is not null
    group by +user_key
),

carried as (
    -- a changed user whose stored row counts only transactions before the first change (its last one is
    -- earlier), and whose tail is all in the row's currency: the row carries on from what it holds. The others
    -- are read whole, below, and so is a row without a balance or currency (where a negative run began, or
    -- which currency the totals are in, is then not in the row).
    select stored.*, changes.user_key
    from user_balances stored
    join scope_users changes on changes.user_id = stored.user_id
    left join tails on tails.user_key = changes.user_key
    where (stored.last_seen_at, stored.last_transaction_id) < (changes.since_ts, changes.since_tx)
      and stored.balance is not null and stored.currency is not null
      and (tails.user_key is null
           or tails.count_with_currency = tails.count_transactions
              and tails.min_currency = stored.currency and tails.max_currency = stored.currency)
),

{%- macro plus(a, b) -%}
case when {{ a }} is null and {{ b }} is null then null else coalesce({{ a }}, 0) + coalesce({{ b }}, 0) end
{%- endmacro %}

carried_balances as (
    select
        carried.user_id, carried.currency,
        case when tails.last_seq is null then carried.balance else last_row.new_balance end as balance,
        coalesce(printed_row.payment_balance, carried.payment_balance) as payment_balance,
        carried.first_seen_at,
        coalesce(last_row.ts, carried.last_seen_at) as last_seen_at,
        coalesce(last_row.transaction_id, carried.last_transaction_id) as last_transaction_id,
        carried.count_transactions + coalesce(tails.count_transactions, 0) as count_transactions,
        carried.count_debits + coalesce(tails.count_debits, 0) as count_debits,
        carried.count_credits + coalesce(tails.count_credits, 0) as count_credits,
        {{ plus('carried.total_debit', 'tails.total_debit') }} as total_debit,
        {{ plus('carried.total_credit', 'tails.total_credit') }} as total_credit,
        {{ plus('carried.total_vat', 'tails.total_vat') }} as total_vat,
        -- a negative run with no non-negative balance in the tail began where the stored row says; else in it
        case when (case when tails.last_seq is null then carried.balance else last_row.new_balance end) < 0 then
            case when tails.last_non_negative_seq is null and carried.balance < 0 then carried.overdrawn_since
            else {{ run_start('carried.user_key', 'tails.last_non_negative_seq', ' and run.is_tail') }}
            end
        end as overdrawn_since,
        case when coalesce(printed_row.payment_balance, carried.payment_balance) < 0 then
            case when tails.last_non_negative_wallet_seq is null and carried.payment_balance < 0
                then carried.wallet_overdrawn_since
            else {{ run_start('carried.user_key', 'tails.last_non_negative_wallet_seq',
                              ' and run.is_tail and run.payment_balance is not null') }}
            end
        end as wallet_overdrawn_since,
        carried.count_continuity_breaks + coalesce(tails.count_continuity_breaks, 0) as count_continuity_breaks,
        carried.count_currencies
    from carried
    left join tails on tails.user_key = carried.user_key
    left join int_ledger last_row on last_row.user_key = carried.user_key and last_row.ledger_seq = tails.last_seq
    left join int_ledger printed_row
      on printed_row.user_key = carried.user_key and printed_row.ledger_seq = tails.last_printed_seq
),
{%- endif %}

per_currency as (
    -- one pass over the user's applied transactions (grouped by currency first: SQLite then sorts the rows instead of reading
    -- them in index order one by one): totals per user and currency (the user's current currency is only known
    -- afterwards), and the positions of the rows the later steps look up by (user_key, ledger_seq)
    select
        user_key, user_id, currency,
        min(ts) as first_seen_at,
        {{ sums_and_places() }}
    from int_ledger
    where user_id is not null and is_applied
    {%- if scoped %}
      and user_key not in (select user_key from carried)
    {%- endif %}
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

whole_balances as (
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
        case when totals.balance < 0 then
            {{ run_start('totals.user_key', 'totals.last_non_negative_seq') }}
        end as overdrawn_since,
        case when totals.payment_balance < 0 then
            {{ run_start('totals.user_key', 'totals.last_non_negative_wallet_seq',
                         ' and run.payment_balance is not null') }}
        end as wallet_overdrawn_since,
        totals.count_continuity_breaks,
        totals.count_currencies
    from totals
),

balances as (
    select * from whole_balances
    {%- if scoped %}
    union all
    select * from carried_balances
    {%- endif %}
),

final as (
    select
        balances.*,
        coalesce(balances.balance < 0, false) as is_overdrawn,
        coalesce(discrepancies_per_user.count_discrepancies, 0) as count_discrepancies,
        coalesce(discrepancies_per_user.count_open_discrepancies, 0) as count_open_discrepancies,
        coalesce(findings_per_user.count_anomalies, 0) as count_anomalies,
        (balances.user_id in :test_user_ids or balances.user_id not like :uuid_shape) as is_test_user
    from balances
    left join discrepancies_per_user on discrepancies_per_user.user_id = balances.user_id
    left join findings_per_user on findings_per_user.user_id = balances.user_id
)

select user_id, currency, balance, payment_balance, first_seen_at, last_seen_at, last_transaction_id,
       count_transactions, count_debits, count_credits, total_debit, total_credit, total_vat, is_overdrawn,
       overdrawn_since, wallet_overdrawn_since, count_discrepancies, count_open_discrepancies, count_continuity_breaks,
       count_anomalies,
       is_test_user, count_currencies
from final
