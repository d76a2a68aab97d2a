select region, account_id, domain, account_name from accounts
