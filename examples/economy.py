#!/usr/bin/env python3
"""The economy as a game server (or an admin script) uses it, with the
standard library only: credit a character, transfer to another player, bank
it, withdraw it to the chain, and read the log.

    MNEMO_URL=http://127.0.0.1:8080 MNEMO_TOKEN=mnemo_... python3 examples/economy.py

The token needs economy:read and economy:write
(`mnemo token create --name game --scopes economy:read,economy:write`).

Every write carries an Idempotency-Key made once per logical write, so a
retry after a timeout or a 503 can never apply it twice: the server answers
a retried key with the first answer.
"""

import hashlib
import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid

VAULT = "rrrrrrrrrrrrrrrrrrrrrhoLvTp"  # the default vault (MNEMO_XRPL_VAULT_ADDRESS)


class Economy:
    def __init__(self, url, token, timeout=5.0):
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def _call(self, method, path, body=None, key=None, retries=3):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Authorization", "Bearer " + self.token)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if key is not None:
            req.add_header("Idempotency-Key", key)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as res:
                return json.loads(res.read())
        except urllib.error.HTTPError as e:
            payload = json.loads(e.read() or b"{}")
            # Retryable: wait as told, then send the very same request with the
            # same key; if the first one was applied, this returns its answer.
            if e.code in (429, 503) and retries > 0:
                time.sleep(float(e.headers.get("Retry-After", "1")))
                return self._call(method, path, body, key, retries - 1)
            error = payload.get("error", {})
            raise RuntimeError(
                f"{method} {path}: {e.code} {error.get('code')}: {error.get('message')}"
                + (f" (field {error['field']})" if error.get("field") else "")
            ) from None

    def write(self, path, body):
        """A write, safe to retry: one key per logical write."""
        return self._call("POST", path, body, key=str(uuid.uuid4()))

    def read(self, path):
        return self._call("GET", path)


def main():
    url = os.environ.get("MNEMO_URL", "http://127.0.0.1:8080")
    token = os.environ.get("MNEMO_TOKEN")
    if not token:
        sys.exit("set MNEMO_TOKEN (mnemo token create --name game --scopes economy:read,economy:write)")
    eco = Economy(url, token)
    run = uuid.uuid4().hex[:8]
    alice, bob = f"rAlice{run}", f"rBob{run}"

    # A quest pays Aldric (Alice's character) 100 gold.
    paid = eco.write("/v1/economy/credits", {
        "currency_code": "FCMGold", "wallet_address": alice, "location": "CHARACTER",
        "character_key": "Aldric", "amount": "100", "transfer_type": "quest_reward"})
    print(f"credited Aldric: balance {paid['balance']}")

    # Aldric gives 30 to Brenna (Bob's character).
    moved = eco.write("/v1/economy/transfers", {
        "currency_code": "FCMGold",
        "from": {"wallet_address": alice, "location": "CHARACTER", "character_key": "Aldric"},
        "to": {"wallet_address": bob, "location": "CHARACTER", "character_key": "Brenna"},
        "amount": "30", "transfer_type": "trade"})
    print(f"transferred 30: Aldric {moved['from_balance']}, Brenna {moved['to_balance']}")

    # Brenna banks it, and Bob withdraws 25 to his XRPL wallet. The hash is
    # the chain transaction's (here a stand-in); any spelling of it is one hash.
    eco.write("/v1/economy/transfers", {
        "currency_code": "FCMGold",
        "from": {"wallet_address": bob, "location": "CHARACTER", "character_key": "Brenna"},
        "to": {"wallet_address": bob, "location": "ACCOUNT"},
        "amount": "30", "transfer_type": "bank"})
    tx_hash = hashlib.sha256(f"withdrawal {run}".encode()).hexdigest()
    out = eco.write("/v1/economy/chain/withdrawals", {
        "currency_code": "FCMGold", "wallet_address": bob, "amount": "25",
        "vault_address": VAULT, "tx_hash": tx_hash})
    print(f"withdrew 25 to chain in {out['transaction']['tx_hash'][:12]}...: bank {out['account_balance']}")

    # The same withdrawal reported again (another spelling of the hash) is refused.
    try:
        eco.write("/v1/economy/chain/withdrawals", {
            "currency_code": "FCMGold", "wallet_address": bob, "amount": "25",
            "vault_address": VAULT, "tx_hash": tx_hash.upper()})
    except RuntimeError as refused:
        print(f"replay refused: {refused}")

    # Bob's side of the log.
    log = eco.read(f"/v1/economy/logs/fungible?wallet_address={bob}")
    for row in log["items"]:
        print(f"log: {row['from_wallet']} -> {row['to_wallet']} {row['amount']} {row['currency_code']} ({row['transfer_type']})")


if __name__ == "__main__":
    main()
