-- int_ledger: one row per transaction, narrow, with its place in the user's sequence and the previous
-- transaction's values (from int_ledger_order.sql, the one per-user window). balance_events is wide (metadata
-- JSON, literals), so the later steps (the balance_events update, discrepancy_report, the detectors,
-- user_balances) read this table instead. Dropped after the build. When each disagreement was resolved is
-- looked up by discrepancy_report, for the discrepant rows only (index ix_int_ledger_user).
-- Ledger identity (log-format.md §8.1): expected_new_balance = old_balance − (amount − vat) for a DEBIT,
-- + (amount − vat) for a CREDIT; legacy rows carry the direction inferred by ingest (§8.2); a missing vat
-- counts as 0. Continuity (§8.7): a user's transactions ordered by time, then transaction id.
-- A transaction the Lambda refused (negative-balance guard after its sync block, outcome
-- 'refused_negative_balance') never changed the balance: it is kept and checked, but the balance after it is
-- its old_balance (what the next transaction continues from) and it is never an 'actual'/'crossing' overdraft.
-- An incremental build derives the tail's rows only (is_tail); the rows before it keep the derived columns of
-- balance_events that the last build (the same code and settings) wrote, rather than work them out again.

{#- each derived column of balance_events, and the name this file works it out under -#}
{%- set derived = {
    'net_change': 'net_change', 'expected_new_balance': 'expected_new_balance', 'calc_difference': 'calc_difference',
    'is_calc_mismatch': 'is_calc_mismatch', 'suggested_adjustment': 'suggested_adjustment',
    'is_continuity_break': 'user_is_continuity_break', 'continuity_gap': 'user_continuity_gap',
    'is_overdraft_actual': 'is_overdraft_actual', 'is_overdraft_expected': 'is_overdraft_expected',
    'is_overdraft_wallet': 'is_overdraft_wallet', 'is_overdraft_crossing': 'is_overdraft_crossing',
    'overdraft_reason': 'overdraft_reason'} %}

{%- macro kept_before_tail(computed, column) -%}
{% if scoped %}case when is_tail then {{ computed }} else kept_{{ column }} end{% else %}{{ computed }}{% endif %}
{%- endmacro %}

with

{%- macro columns() -%}
    transaction_id, balance_events.user_id, currency, type, schema, source, action, amount, vat, old_balance,
           new_balance, payment_balance, is_float_noise, ts, ts_ms, business_date, event_id, file_id, line_no,
           coalesce(outcome, 'unknown') <> 'refused_negative_balance' as is_applied
           {%- if scoped %},
           -- what the last build derived (kept for the transactions before the user's first change)
           user_seq as kept_seq, prev_new_balance as kept_prev_new_balance
           {%- for column in derived %}, {{ column }} as kept_{{ column }}{% endfor %}
           {%- endif %}
{%- endmacro %}

events as (
    select {{ columns() }}
    {%- if scoped == 'seek' %}
    -- an incremental build: each changed user's transactions from scope_users.read_from on (the tail, and those
    -- before it that a later step reads), by a seek in ix_balance_events_user_ts (SQLite joins a CROSS JOIN in
    -- the order written)
    from scope_users changes
    cross join balance_events
    where balance_events.user_id = changes.user_id and balance_events.ts >= changes.read_from
    {%- elif scoped == 'scan' %}
    -- the same when the changed users hold many transactions: in one pass over the table ("+": not by seeks in
    -- the user index, which cost more per row once they hold about a tenth of the transactions)
    from balance_events
    join scope_users changes
      on changes.user_id = {{ '+' if dialect == 'sqlite' }}balance_events.user_id
    where balance_events.ts >= changes.read_from
    {%- else %}
    from balance_events
    {%- endif %}
    {%- if scoped %}
    union all
    -- the transactions without a user, when they changed: all of them
    select {{ columns() }}
    from balance_events
    where balance_events.user_id is null and exists (select 1 from scope_users where user_id is null)
    {%- endif %}
),

currencies as (
    select currency, unit_micros from ref_currencies
),

{%- if scoped %}

sequenced as (
    -- the tail (from the user's first change on, transform/scope_users.sql) as int_ledger_order placed it; the
    -- transactions before it where the last build placed them
    select
        events.*,
        coalesce(currencies.unit_micros, 10000) as unit_micros,
        coalesce(changes.user_key, (select user_key from scope_users where user_id is null)) as user_key,
        coalesce(ordered.ledger_seq, events.kept_seq) as ledger_seq,
        case when ordered.event_id is null then events.kept_prev_new_balance
             else ordered.prev_new_balance end as prev_new_balance,
        -- (the previous transaction's time: the tail's only. The steps that read it, burst and rapid_deduction,
        -- look at the tail and keep their findings on the transactions before it: kept_findings.sql)
        ordered.prev_ts_ms,
        ordered.event_id is not null as is_tail
    from events
    left join scope_users changes on changes.user_id = events.user_id  -- (the rows without a user: below)
    left join int_ledger_order ordered on ordered.event_id = events.event_id
    left join currencies on currencies.currency = events.currency
),
{%- else %}

sequenced as (
    select
        events.*,
        coalesce(currencies.unit_micros, 10000) as unit_micros,
        ordered.user_key, ordered.ledger_seq, ordered.prev_new_balance, ordered.prev_ts_ms,
        true as is_tail
    from events
    join int_ledger_order ordered on ordered.event_id = events.event_id  -- event_id is unique in balance_events
    left join currencies on currencies.currency = events.currency
),
{%- endif %}

arithmetic as (
    select
        sequenced.*,
        new_balance - old_balance as net_change,
        case
            when type = 'DEBIT' then old_balance - (amount - coalesce(vat, 0))
            when type = 'CREDIT' then old_balance + (amount - coalesce(vat, 0))
        end as expected_new_balance
    from sequenced
),

flagged as (
    select
        arithmetic.*,
        new_balance - expected_new_balance as calc_difference,
        coalesce(abs(new_balance - expected_new_balance) > :tolerance_micros, false) as is_calc_mismatch,
        old_balance - prev_new_balance as continuity_gap,
        coalesce(abs(old_balance - prev_new_balance) > :tolerance_micros, false) as is_continuity_break,
        -- a not-in-sync error on the transaction, or the wallet disagrees. Many rows probe the set of every
        -- transaction id with an error, built once (untied errors, with none, left out); the few rows of an
        -- incremental build read by seeks each seek the errors' index instead of building the set
        {% if scoped == 'seek' %}
        exists (select 1 from not_in_sync_events errors where errors.transaction_id = arithmetic.transaction_id)
        {% else %}
        transaction_id in (select errors.transaction_id from not_in_sync_events errors
                           where errors.transaction_id is not null)
        {% endif %}
            or coalesce(abs(payment_balance - new_balance) > :tolerance_micros, false) as is_out_of_sync,
        coalesce(is_applied and new_balance < 0, false) as is_overdraft_actual,
        coalesce(expected_new_balance < 0, false) as is_overdraft_expected,
        coalesce(payment_balance < 0, false) as is_overdraft_wallet,
        coalesce(is_applied and old_balance >= 0 and new_balance < 0, false) as is_overdraft_crossing
    from arithmetic
),

final as (
    select
        flagged.*,
        case when is_calc_mismatch
             -- the posting that would bring the balance to what the arithmetic says, in whole minor units
             then {{ round_half_up('expected_new_balance - new_balance', 'unit_micros') }} end as suggested_adjustment,
        nullif(substr(
            case when is_overdraft_actual then ',actual' else '' end
            || case when is_overdraft_expected then ',expected' else '' end
            || case when is_overdraft_wallet then ',wallet' else '' end
            || case when is_overdraft_crossing then ',crossing' else '' end, 2), '') as overdraft_reason
    from flagged
),

published as (
    -- the derived columns as balance_events shows them (no sequence or continuity without a user)
    select
        final.*,
        case when user_id is not null then ledger_seq end as user_seq,
        case when user_id is not null then prev_new_balance end as user_prev_new_balance,
        is_continuity_break and user_id is not null as user_is_continuity_break,
        case when user_id is not null then continuity_gap end as user_continuity_gap
    from final
)

select
    transaction_id, user_id, currency, type, schema, source, action, amount, vat, old_balance, new_balance,
    payment_balance, is_float_noise, ts, ts_ms, business_date, event_id, file_id, line_no, is_applied,
    {%- for column, computed in derived.items() %}
    {{ kept_before_tail(computed, column) }} as {{ column }},
    {%- endfor %}
    user_seq, user_prev_new_balance as prev_new_balance, prev_ts_ms, is_out_of_sync, user_key, ledger_seq, is_tail
from published
