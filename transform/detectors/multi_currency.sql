-- detector multi_currency: a user seen in more than one currency (log-format.md §7 says a user never is).
-- One finding per extra currency, on the user's first transaction in it. Severity high.

with

multi_currency_users as (
    -- more than one currency: min < max. Read from ix_int_ledger_user alone, in user_key order, so no sort of
    -- every transaction; the transactions without a user have a user_key too, and are left out below
    select user_key
    from int_ledger
    where currency is not null
    group by user_key
    having min(currency) < max(currency)
),

transactions as not materialized (  -- read twice: inlined, not copied whole
    select transaction_id, user_id, currency, amount, ts, business_date, file_id, line_no
    from int_ledger
    where currency is not null and user_id is not null
      and user_key in (select user_key from multi_currency_users)
),

currencies_per_user as (
    select user_id, count(distinct currency) as count_currencies
    from transactions
    group by user_id
),

firsts as (
    select
        transactions.*,
        currencies_per_user.count_currencies,
        row_number() over (partition by transactions.user_id, transactions.currency
                           order by transactions.ts, transactions.transaction_id) as rank_in_currency
    from transactions
    join currencies_per_user on currencies_per_user.user_id = transactions.user_id
),

first_per_currency as (
    select
        firsts.*,
        row_number() over (partition by user_id order by ts, transaction_id) as currency_order,
        first_value(currency) over (partition by user_id order by ts, transaction_id) as first_currency
    from firsts
    where rank_in_currency = 1
),

final as (
    select
        'multi_currency:' || user_id || ':' || currency as fingerprint,
        'multi_currency' as detector,
        'high' as severity,
        user_id, currency, transaction_id, ts as detected_at, business_date,
        count_currencies * 1.0 as score,
        amount,
        '{"first_currency":"' || first_currency || '"}' as parameters,
        'This user, first seen in ' || first_currency || ', has a transaction in ' || currency
            || ' too (' || {{ int_text('count_currencies') }} || ' currencies in all).' as explanation,
        file_id, line_no
    from first_per_currency
    where currency_order > 1
)

select fingerprint, detector, severity, user_id, currency, transaction_id, detected_at, business_date, score,
       amount, parameters, explanation, file_id, line_no
from final
