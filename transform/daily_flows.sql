-- daily_flows: money moved per business date, currency, type, source and action (one row per combination
-- seen). total_amount is gross (VAT included), total_vat the VAT, total_net = total_amount − total_vat,
-- all in micro-units. Legacy transactions have no source or action (NULL) and their inferred type.

with

events as (
    -- from balance_events (every transaction, whatever the build), for the days being rebuilt
    select business_date, currency, type, source, action, user_id, amount, vat from balance_events
    {%- if scoped %}
    where {{ day_in_scope('business_date') }}
    {%- endif %}
),

grouped as (
    select
        business_date, currency, type, source, action,
        count(*) as count_transactions,
        sum(amount) as total_amount,
        sum(coalesce(vat, 0)) as total_vat,
        sum(amount - coalesce(vat, 0)) as total_net,
        count(distinct user_id) as count_users
    from events
    group by business_date, currency, type, source, action
)

select business_date, currency, type, source, action, count_transactions, total_amount, total_vat, total_net,
       count_users
from grouped
