-- Plans: the currency a plan's price is paid in (the original's RLUSD), so a payment in another currency is refused
ALTER TABLE subscriptions_subscriptionplan
    ADD COLUMN currency_code TEXT NOT NULL DEFAULT 'RLUSD' CHECK (length(currency_code) BETWEEN 1 AND 40);
