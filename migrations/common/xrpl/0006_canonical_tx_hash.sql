-- Chain transaction log: every tx_hash in its canonical spelling (upper case), so a replay in another case is refused
-- An XRPL hash is case-insensitive; the same hash in two spellings used to be two rows. Each spelling group is
-- rewritten once: its oldest row takes the upper-case form unless a row already has it; later rows keep their
-- spelling as evidence and no longer matter, since deposits and withdrawals compare the canonical form only.
UPDATE xrpl_xrpltransactionlog
SET tx_hash = UPPER(tx_hash)
WHERE tx_hash <> UPPER(tx_hash)
  AND id = (SELECT MIN(g.id) FROM xrpl_xrpltransactionlog g
            WHERE UPPER(g.tx_hash) = UPPER(xrpl_xrpltransactionlog.tx_hash))
  AND NOT EXISTS (SELECT 1 FROM xrpl_xrpltransactionlog c
                  WHERE c.tx_hash = UPPER(xrpl_xrpltransactionlog.tx_hash));
