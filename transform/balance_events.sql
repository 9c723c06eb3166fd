-- balance_events: the derived columns of every transaction (one row per transaction_id), computed in
-- int_ledger.sql. The runner turns this select into
--   UPDATE balance_events SET <column> = derived.<column>, … FROM (<this select>) AS derived
--   WHERE balance_events.event_id = derived.event_id AND balance_events.transaction_id = derived.transaction_id
-- and writes only rows whose derived values changed, so an incremental ingest rewrites few rows. The join is
-- on event_id too: int_ledger is keyed and stored by it, as balance_events is stored, so on SQLite the update
-- walks both tables side by side instead of looking each transaction up by its id.

with

ledger as (
    select event_id, transaction_id, net_change, expected_new_balance, calc_difference, is_calc_mismatch,
           suggested_adjustment, user_seq, prev_new_balance, is_continuity_break, continuity_gap,
           is_overdraft_actual, is_overdraft_expected, is_overdraft_wallet, is_overdraft_crossing, overdraft_reason
    from int_ledger
    {%- if scoped %}
    -- an incremental build: the rows before a changed user's first change are as the last build left them
    where is_tail
    {%- endif %}
)

select
    event_id, transaction_id, net_change, expected_new_balance, calc_difference, is_calc_mismatch, suggested_adjustment,
    user_seq, prev_new_balance, is_continuity_break, continuity_gap, is_overdraft_actual,
    is_overdraft_expected, is_overdraft_wallet, is_overdraft_crossing, overdraft_reason
from ledger
