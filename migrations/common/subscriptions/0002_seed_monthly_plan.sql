-- Seed the monthly plan: 30 days for 5.00
INSERT INTO subscriptions_subscriptionplan (key, display_name, duration_days, price, is_active, sort_order)
VALUES ('monthly', 'Monthly', 30, '5.00', TRUE, 0);
