-- detector test_user: an account that is a test, not a customer: its id is listed in TEST_USER_IDS (the
-- sample has 'random-uuid') or is not shaped like a UUID (8-4-4-4-12 characters). One finding per user,
-- on their first transaction. Severity low.

with

transactions as (
    select transaction_id, user_id, currency, amount, ts, business_date, file_id, line_no
    from int_ledger
    where user_id is not null
),

per_user as (
    select
        transactions.*,
        row_number() over (partition by user_id order by ts, transaction_id) as rank_for_user,
        count(*) over (partition by user_id) as count_transactions
    from transactions
    where user_id in :test_user_ids or user_id not like :uuid_shape
),

final as (
    select
        'test_user:' || user_id as fingerprint,
        'test_user' as detector,
        'low' as severity,
        user_id, currency, transaction_id, ts as detected_at, business_date,
        count_transactions * 1.0 as score,
        amount,
        :params_test_user as parameters,
        'User ' || {{ json_text('user_id') }} || ' looks like a test account ('
            || case when user_id in :test_user_ids then 'listed in TEST_USER_IDS' else 'its id is not a UUID' end
            || '); it has ' || {{ int_text('count_transactions') }} || ' transactions.' as explanation,
        file_id, line_no
    from per_user
    where rank_for_user = 1
)

select fingerprint, detector, severity, user_id, currency, transaction_id, detected_at, business_date, score,
       amount, parameters, explanation, file_id, line_no
from final
