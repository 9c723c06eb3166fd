-- discrepancy_report: one row per issue to investigate (docs/transforms.md#discrepancy_report).
--   out_of_sync   an episode: a maximal run of one user's applied transactions whose subscription balance and
--                 payment wallet disagree (discrepancy_transactions.sql); resolved at the user's next applied
--                 transaction, open while the user's latest applied transaction is still out of sync
--   calculation   one transaction that breaks the ledger identity (balance_events.is_calc_mismatch)
--   continuity    one transaction whose old_balance ≠ the user's previous new_balance (is_continuity_break)
--   untied_error  one "not in sync" error that no transaction block precedes in its SQS message (its copies
--                 logged again at the same time for the same message counted in it)
-- discrepancy_id is the same in every rebuild: the kind and the (first) transaction, which names the user.
-- Gaps are signed: subscription side minus payment (or expected) side. amount_at_stake is what an accountant
-- would add up: the current gap of an open episode (each out-of-sync user's gap, once), 0 once resolved; the
-- difference of a calculation or continuity break, which no later transaction undoes; 0 for an untied error.

with

currencies as (
    select currency, unit_micros, pow10 from ref_currencies
),

data_end as (
    -- ages of open issues are counted to the last business day of the data (from balance_events, whose index has
    -- it at one end: an incremental build's int_ledger holds the changed users only)
    select max(business_date) as last_date from balance_events
),

-- out_of_sync: one row per episode, from its transactions
episode_sizes as (
    select
        discrepancy_id,
        sum(case when role = 'out_of_sync' then 1 else 0 end) as count_transactions,
        sum(count_lambda_errors) as count_lambda_errors,
        max(case when role = 'out_of_sync' then abs(gap) end) as max_abs_gap
    from discrepancy_transactions
    {%- if scoped %}
    where {{ user_in_scope('user_id') }}
    {%- endif %}
    group by discrepancy_id
),

episodes as (
    select
        'out_of_sync' as kind,
        last_row.user_id, last_row.currency,
        first_row.transaction_id as first_transaction_id,
        last_row.transaction_id as last_transaction_id,
        resolving.transaction_id as resolving_transaction_id,
        first_row.business_date,
        first_row.ts as first_seen_at,
        last_row.ts as last_seen_at,
        resolving.ts as resolved_at,
        resolving.business_date as resolved_date,
        sizes.count_transactions,
        sizes.count_lambda_errors,
        last_row.subscription_balance,
        last_row.payment_balance,
        cast(null as bigint) as expected_balance,
        first_row.gap as opening_gap,
        last_row.gap as current_gap,
        sizes.max_abs_gap,
        case when resolving.transaction_id is null then abs(last_row.gap) else 0 end as amount_at_stake,
        first_row.file_id, first_row.line_no,
        'Transaction ' || first_row.transaction_id || ' left the subscription balance at '
            || {{ money('first_row.subscription_balance', 'cur', 'last_row.currency') }} || ' and the payment wallet at '
            || {{ money('first_row.payment_balance', 'cur', 'last_row.currency') }} || ' (a gap of '
            || {{ money('first_row.gap', 'cur', 'last_row.currency') }} || ')'
            || case when sizes.count_transactions > 1
                    then '; they stayed apart for ' || {{ int_text('sizes.count_transactions') }}
                         || ' transactions, up to ' || last_row.transaction_id || ' (gap '
                         || {{ money('last_row.gap', 'cur', 'last_row.currency') }} || ', largest '
                         || {{ money('sizes.max_abs_gap', 'cur', 'last_row.currency') }} || ')'
                    else '' end
            || case when sizes.count_lambda_errors > 0
                    then '; the Lambda logged ' || {{ int_text('sizes.count_lambda_errors') }} || ' not-in-sync error'
                         || case when sizes.count_lambda_errors > 1 then 's' else '' end
                    else '' end
            || case when resolving.transaction_id is not null
                    then '. Transaction ' || resolving.transaction_id || ' brought them together again.'
                    else '. Still apart at the user''s latest transaction.' end as explanation
    from episode_sizes sizes
    join discrepancy_transactions first_row
      on first_row.discrepancy_id = sizes.discrepancy_id and first_row.position = 1
    join discrepancy_transactions last_row
      on last_row.discrepancy_id = sizes.discrepancy_id and last_row.position = sizes.count_transactions
    left join discrepancy_transactions resolving
      on resolving.discrepancy_id = sizes.discrepancy_id and resolving.position = sizes.count_transactions + 1
    left join currencies cur on cur.currency = last_row.currency
),

-- calculation and continuity: one row per broken transaction. Resolved at the user's first later transaction
-- without that break (found by one seek in ix_int_ledger_user for these few rows)
{%- macro first_later(condition) %}
        (select later.ledger_seq from int_ledger later
         where later.user_key = ledger.user_key and {{ condition }}
           and later.ledger_seq > ledger.ledger_seq
         order by later.ledger_seq limit 1)
{%- endmacro %}

calculation_ledger as materialized (
    select ledger.*, {{ first_later('not later.is_calc_mismatch') }} as resolving_seq
    from int_ledger ledger
    where ledger.is_calc_mismatch
),

continuity_ledger as materialized (
    select ledger.*, {{ first_later('not later.is_continuity_break') }} as resolving_seq
    from int_ledger ledger
    where ledger.is_continuity_break
),

-- a break's columns up to its explanation: one transaction, its balance, what it should have been, the difference
{%- macro break_columns(kind, balance, expected, difference) %}
        '{{ kind }}' as kind,
        ledger.user_id, ledger.currency,
        ledger.transaction_id as first_transaction_id, ledger.transaction_id as last_transaction_id,
        resolving.transaction_id as resolving_transaction_id,
        ledger.business_date, ledger.ts as first_seen_at,
        -- last seen at the transaction before the resolving one or, unresolved, at the user's latest: looked up for
        -- these few rows (not a GROUP BY of the whole ledger)
        coalesce((select previous.ts from int_ledger previous
                  where previous.user_key = resolving.user_key and previous.ledger_seq = resolving.ledger_seq - 1),
                 (select max(latest.ts) from int_ledger latest
                  where latest.user_key = ledger.user_key)) as last_seen_at,
        resolving.ts as resolved_at, resolving.business_date as resolved_date,
        1 as count_transactions, 0 as count_lambda_errors,
        {{ balance }} as subscription_balance, ledger.payment_balance, {{ expected }} as expected_balance,
        {{ difference }} as opening_gap, {{ difference }} as current_gap,
        abs({{ difference }}) as max_abs_gap, abs({{ difference }}) as amount_at_stake,
        ledger.file_id, ledger.line_no,
{%- endmacro %}

calculations as (
    select
        {{- break_columns('calculation', 'ledger.new_balance', 'ledger.expected_new_balance', 'ledger.calc_difference') }}
        'Transaction ' || ledger.transaction_id || ' (' || lower(coalesce(ledger.type, 'unknown direction')) || ' of '
            || {{ money('ledger.amount', 'cur', 'ledger.currency') }} || ' including '
            || {{ money_text('ledger.vat', 'cur') }} || ' VAT) should have moved the balance from '
            || {{ money_text('ledger.old_balance', 'cur') }} || ' to '
            || {{ money_text('ledger.expected_new_balance', 'cur') }} || ', but the log shows '
            || {{ money_text('ledger.new_balance', 'cur') }} || ', off by '
            || {{ money('ledger.calc_difference', 'cur', 'ledger.currency') }} || '.' as explanation
    from calculation_ledger ledger
    left join int_ledger resolving
      on resolving.user_key = ledger.user_key and resolving.ledger_seq = ledger.resolving_seq
    left join currencies cur on cur.currency = ledger.currency
),

continuities as (
    select
        {{- break_columns('continuity', 'ledger.old_balance', 'ledger.prev_new_balance', 'ledger.continuity_gap') }}
        'Transaction ' || ledger.transaction_id || ' starts from '
            || {{ money('ledger.old_balance', 'cur', 'ledger.currency') }}
            || ', but the previous transaction of this user ('
            -- looked up for these few rows rather than carried by every int_ledger row
            || coalesce((select previous.transaction_id from int_ledger previous
                         where previous.user_key = ledger.user_key and previous.ledger_seq = ledger.ledger_seq - 1),
                        '?')
            || ') ended at '
            || {{ money_text('ledger.prev_new_balance', 'cur') }} || ': '
            || {{ money('ledger.continuity_gap', 'cur', 'ledger.currency') }}
            || ' changed without a logged transaction.' as explanation
    from continuity_ledger ledger
    left join int_ledger resolving
      on resolving.user_key = ledger.user_key and resolving.ledger_seq = ledger.resolving_seq
    left join currencies cur on cur.currency = ledger.currency
),

untied_copies as (
    -- the same error logged again (its message redelivered, or the same stream in two files) is one issue: one
    -- row per time and message, its first copy by event id standing for the others
    select
        min(event_id) as event_id, count(*) as count_copies
    from not_in_sync_events
    where transaction_id is null
    group by ts, coalesce(message_id, request_id, '')
),

untied_errors as (
    -- a not-in-sync error with no transaction block before it in its SQS message: kept, never in an episode
    select
        'untied_error' as kind,
        errors.user_id, cast(null as varchar(8)) as currency,
        cast(null as varchar(40)) as first_transaction_id, cast(null as varchar(40)) as last_transaction_id,
        cast(null as varchar(40)) as resolving_transaction_id,
        errors.business_date, errors.ts as first_seen_at, errors.ts as last_seen_at,
        cast(null as varchar(24)) as resolved_at, cast(null as varchar(10)) as resolved_date,
        0 as count_transactions, copies.count_copies as count_lambda_errors,
        errors.subscription_balance, errors.payment_balance, cast(null as bigint) as expected_balance,
        errors.subscription_balance - errors.payment_balance as opening_gap,
        errors.subscription_balance - errors.payment_balance as current_gap,
        abs(errors.subscription_balance - errors.payment_balance) as max_abs_gap,
        0 as amount_at_stake,
        errors.file_id, errors.line_no,
        'The Lambda reported that the subscription balance ('
            || {{ money_text('errors.subscription_balance', 'cur') }} || ') and the payment balance ('
            || {{ money_text('errors.payment_balance', 'cur') }}
            || ') are not in sync, but no transaction block precedes it in its SQS message'
            || coalesce(' (' || errors.message_id || ')', '')
            || ', so it is tied to no transaction and counts in no exposure.' as explanation,
        -- the same in every rebuild: the error's time and message (or request)
        'untied_error:' || errors.ts || ':' || coalesce(errors.message_id, errors.request_id, '') as untied_id
    from untied_copies copies
    join not_in_sync_events errors on errors.event_id = copies.event_id
    left join currencies cur on 1 = 0  -- its currency is unknown: amounts with 2 decimals
),

unioned as (
    select kind || ':' || first_transaction_id as discrepancy_id, episodes.* from episodes
    union all select kind || ':' || first_transaction_id, calculations.* from calculations
    union all select kind || ':' || first_transaction_id, continuities.* from continuities
    union all
    select untied_id, kind, user_id, currency, first_transaction_id, last_transaction_id, resolving_transaction_id,
           business_date, first_seen_at, last_seen_at, resolved_at, resolved_date, count_transactions,
           count_lambda_errors, subscription_balance, payment_balance, expected_balance, opening_gap, current_gap,
           max_abs_gap, amount_at_stake, file_id, line_no, explanation
    from untied_errors
),

final as (
    select
        unioned.*,
        case when resolved_at is null then 'open' else 'resolved' end as status,
        {{ days_between('business_date', 'coalesce(resolved_date, data_end.last_date, business_date)') }} as age_days
    from unioned
    cross join data_end
)

select
    discrepancy_id, kind, status, user_id, currency, first_transaction_id, last_transaction_id,
    resolving_transaction_id, business_date, first_seen_at, last_seen_at, resolved_at, count_transactions,
    count_lambda_errors, subscription_balance, payment_balance, expected_balance, opening_gap, current_gap,
    max_abs_gap, amount_at_stake, age_days, file_id, line_no, explanation
from final
