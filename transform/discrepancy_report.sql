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

ledger_users as (
    -- the time of each user's latest transaction: an open discrepancy was last seen then
    select user_key, max(ts) as user_last_ts from int_ledger group by user_key
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

-- Each kind below reads int_ledger itself (a CTE read four times would be materialised whole). A discrepancy
-- is resolved at the user's first later transaction without that disagreement: ledger_seq orders a user's
-- transactions by time, so that transaction's ts is resolved_at and its prev_ts (the time of the last one that
-- still disagreed) last_seen_at. One subquery finds that transaction and returns both as a pair, split by
-- the kind's select (two subqueries, one per column, made every seek twice: 1.5 CPU s on the 100x sample).
-- For sync and wallet (a transaction with a not-in-sync error is out of sync) it is one seek in
-- ix_int_ledger_user away, made once per transaction; for calculation and continuity (few rows) the seek reads
-- the user's entries of that index:
{%- macro first_later(condition) %}
        (select {{ pair('later.ts', 'later.prev_ts') }} from int_ledger later
         where later.user_key = ledger.user_key and {{ condition }}
           and later.ledger_seq > ledger.ledger_seq
         order by later.ledger_seq limit 1)
{%- endmacro %}

out_of_sync as materialized (
    -- with every column sync_rows and wallet_rows show: they read these rows as they are materialised rather
    -- than looking each one up in int_ledger by transaction id (3.3 CPU s less on the 100x sample for wallet)
    select
        ledger.transaction_id, ledger.user_key, ledger.user_id, ledger.currency, ledger.event_id, ledger.ts,
        ledger.business_date, ledger.new_balance, ledger.payment_balance, ledger.file_id, ledger.line_no,
        {{ first_later('later.is_out_of_sync = false') }} as resolution
    from int_ledger ledger
    where ledger.is_out_of_sync
),

calculation_ledger as materialized (  -- these few rows only, each resolution looked up once
    select ledger.*, {{ first_later('not later.is_calc_mismatch') }} as resolution
    from int_ledger ledger
    where ledger.is_calc_mismatch
),

continuity_ledger as materialized (  -- the same for continuity breaks
    select ledger.*, {{ first_later('not later.is_continuity_break') }} as resolution
    from int_ledger ledger
    where ledger.is_continuity_break
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
        {{ pair_first('ledger.resolution') }} as resolved_at,
        coalesce({{ pair_second('ledger.resolution') }}, ledger_users.user_last_ts, not_in_sync.ts) as last_seen_at,
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
    -- the transaction of a not-in-sync error is out of sync: out_of_sync holds it, with its resolution
    left join out_of_sync ledger on ledger.transaction_id = not_in_sync.transaction_id
    left join ledger_users on ledger_users.user_key = ledger.user_key
    left join currencies cur on cur.currency = ledger.currency
),

wallet_rows as (
    select
        'wallet' as kind,
        user_id, ledger.currency, ledger.transaction_id, event_id, ts as detected_at, business_date,
        new_balance as subscription_balance,
        payment_balance,
        new_balance - payment_balance as difference,
        cast(null as bigint) as expected_balance,
        {{ pair_first('ledger.resolution') }} as resolved_at,
        coalesce({{ pair_second('ledger.resolution') }}, ledger_users.user_last_ts) as last_seen_at,
        true as is_tied,
        file_id, line_no,
        'Transaction ' || ledger.transaction_id || ' left the subscription balance at '
            || {{ money('new_balance', 'cur', 'ledger.currency') }} || ' but the payment wallet at '
            || {{ money('payment_balance', 'cur', 'ledger.currency') }} || ', a difference of '
            || {{ money('new_balance - payment_balance', 'cur', 'ledger.currency') }} || '.' as explanation
    from out_of_sync ledger
    left join ledger_users on ledger_users.user_key = ledger.user_key
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
        {{ pair_first('ledger.resolution') }} as resolved_at,
        coalesce({{ pair_second('ledger.resolution') }}, ledger_users.user_last_ts) as last_seen_at,
        true as is_tied,
        file_id, line_no,
        'Transaction ' || transaction_id || ' (' || lower(coalesce(type, 'unknown direction')) || ' of '
            || {{ money('amount', 'cur', 'ledger.currency') }} || ' including '
            || {{ money_text('vat', 'cur') }} || ' VAT) should have moved the balance from '
            || {{ money_text('old_balance', 'cur') }} || ' to '
            || {{ money_text('expected_new_balance', 'cur') }} || ', but the log shows '
            || {{ money_text('new_balance', 'cur') }} || ', off by '
            || {{ money('calc_difference', 'cur', 'ledger.currency') }} || '.' as explanation
    from calculation_ledger ledger
    left join ledger_users on ledger_users.user_key = ledger.user_key
    left join currencies cur on cur.currency = ledger.currency
),

continuity_rows as (
    select
        'continuity' as kind,
        user_id, ledger.currency, transaction_id, event_id, ts as detected_at, business_date,
        old_balance as subscription_balance,
        payment_balance,
        continuity_gap as difference,
        prev_new_balance as expected_balance,
        {{ pair_first('ledger.resolution') }} as resolved_at,
        coalesce({{ pair_second('ledger.resolution') }}, ledger_users.user_last_ts) as last_seen_at,
        true as is_tied,
        file_id, line_no,
        'Transaction ' || transaction_id || ' starts from ' || {{ money('old_balance', 'cur', 'ledger.currency') }}
            || ', but the previous transaction of this user ('
            -- looked up for these few rows rather than carried by every int_ledger row
            || coalesce((select previous.transaction_id from int_ledger previous
                         where previous.user_key = ledger.user_key and previous.ledger_seq = ledger.ledger_seq - 1),
                        '?')
            || ') ended at '
            || {{ money_text('prev_new_balance', 'cur') }} || ': '
            || {{ money('continuity_gap', 'cur', 'ledger.currency') }}
            || ' changed without a logged transaction.' as explanation
    from continuity_ledger ledger
    left join ledger_users on ledger_users.user_key = ledger.user_key
    left join currencies cur on cur.currency = ledger.currency
),

unioned as (
    select * from sync_rows
    union all select * from wallet_rows
    union all select * from calculation_rows
    union all select * from continuity_rows
),

final as (
    select
        {{ row_number('detected_at, kind, transaction_id, event_id') }} as discrepancy_id,
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
