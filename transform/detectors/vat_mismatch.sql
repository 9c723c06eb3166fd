-- detector vat_mismatch: VAT should be amount × r/(1+r) for the currency's rate r (VAT_RATES), the amount
-- being gross. Two rules, both exact (integer arithmetic on micro-units, r = num/den):
--   wrong_vat   vat ≠ 0, or the source always carries VAT (VAT_SOURCES), and
--               |vat − amount·r/(1+r)| > VAT_TOLERANCE_UNITS minor units   (severity medium)
--   vat_not_logged  vat = 0, the ledger identity fails, and the balance moved by amount/(1+r) (within
--               VAT_TOLERANCE_UNITS: balances are printed rounded) instead of amount (log-format.md §8.5:
--               VAT was applied but logged as 0)                          (severity medium)
-- Currencies without a rate in VAT_RATES are not checked; a 0 rate expects vat = 0.

with

transactions as not materialized (  -- read by both rules through checked
    select transaction_id, user_id, currency, type, source, amount, vat, old_balance, new_balance, ts,
           business_date, is_calc_mismatch, file_id, line_no
    from int_ledger
    where amount is not null and vat is not null
    {%- if scoped %}
      and is_tail  -- an incremental build: the findings before the tail are kept (kept_findings.sql)
    {%- endif %}
),

currencies as (
    select currency, unit_micros, pow10, vat_rate_num, vat_rate_den, vat_tolerance_micros
    from ref_currencies
    where vat_rate_num is not null
),

checked as not materialized (  -- read by both rules: inlined, not copied whole
    select
        transactions.*,
        currencies.vat_rate_num as num,
        currencies.vat_rate_den as den,
        currencies.vat_tolerance_micros,
        -- vat·(den+num) − amount·num  =  (vat − amount·r/(1+r)) · (den+num)
        transactions.vat * (currencies.vat_rate_den + currencies.vat_rate_num)
            - transactions.amount * currencies.vat_rate_num as scaled_error,
        -- the balance movement in the transaction's direction, against amount/(1+r)
        (transactions.new_balance - transactions.old_balance) * (case when transactions.type = 'DEBIT' then -1 else 1 end)
            * (currencies.vat_rate_den + currencies.vat_rate_num)
            - transactions.amount * currencies.vat_rate_den as scaled_net_error
    from transactions
    join currencies on currencies.currency = transactions.currency
),

wrong_vat as (
    select checked.*, 'wrong_vat' as rule
    from checked
    where (vat <> 0 or source in :vat_sources)
      and abs(scaled_error) > vat_tolerance_micros * (den + num)
),

vat_not_logged as (
    select checked.*, 'vat_not_logged' as rule
    from checked
    where vat = 0 and num > 0 and amount <> 0 and is_calc_mismatch
      and abs(scaled_net_error) <= vat_tolerance_micros * (den + num)
),

flagged as (
    select * from wrong_vat
    union all
    select * from vat_not_logged
),

final as (
    select
        'vat_mismatch:' || flagged.transaction_id as fingerprint,
        'vat_mismatch' as detector,
        'medium' as severity,
        flagged.user_id, flagged.currency, flagged.transaction_id, flagged.ts as detected_at, flagged.business_date,
        abs(flagged.scaled_error) * 1.0 / (flagged.den + flagged.num) / cur.unit_micros as score,
        flagged.vat as amount,
        '{"rule":"' || flagged.rule || '",' || substr(:params_vat_mismatch, 2) as parameters,
        case when flagged.rule = 'wrong_vat' then
            'VAT of ' || {{ money('flagged.vat', 'cur', 'flagged.currency') }} || ' on a gross amount of '
                || {{ money_text('flagged.amount', 'cur') }} || ' should be '
                || {{ money_text('flagged.amount * flagged.num / (flagged.den + flagged.num)', 'cur') }}
                || ' at the currency''s rate of ' || {{ int_text('flagged.num') }} || '/' || {{ int_text('flagged.den') }} || '.'
        else
            'VAT is logged as 0, yet the balance moved by '
                || {{ money('flagged.amount * flagged.den / (flagged.den + flagged.num)', 'cur', 'flagged.currency') }}
                || ', the amount of ' || {{ money_text('flagged.amount', 'cur') }}
                || ' net of VAT: VAT was applied but not logged.'
        end as explanation,
        flagged.file_id, flagged.line_no
    from flagged
    join ref_currencies cur on cur.currency = flagged.currency
)

select fingerprint, detector, severity, user_id, currency, transaction_id, detected_at, business_date, score,
       amount, parameters, explanation, file_id, line_no
from final
