-- Payments: every tx_hash in its canonical spelling (upper case), so a replay in another case meets the unique index
-- An XRPL hash is case-insensitive; until now the same hash in two spellings counted as two payments. Each
-- spelling group is rewritten once: its oldest row takes the upper-case form unless a row already has it. Later
-- rows of a group (replays that were let in) keep their spelling as evidence; they no longer matter to replay
-- checks, which compare the canonical form only. Hashes that are not hex are upper-cased like the rest and can
-- never equal a valid hash.
UPDATE subscriptions_subscriptionpayment
SET tx_hash = UPPER(tx_hash)
WHERE tx_hash <> UPPER(tx_hash)
  AND id = (SELECT MIN(g.id) FROM subscriptions_subscriptionpayment g
            WHERE UPPER(g.tx_hash) = UPPER(subscriptions_subscriptionpayment.tx_hash))
  AND NOT EXISTS (SELECT 1 FROM subscriptions_subscriptionpayment c
                  WHERE c.tx_hash = UPPER(subscriptions_subscriptionpayment.tx_hash));
