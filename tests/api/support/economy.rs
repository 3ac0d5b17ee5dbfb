//! What the economy and payment tests share: XRPL transaction hashes and
//! their other spellings, and requests to the economy routes with an
//! optional `Idempotency-Key`.

use std::sync::Arc;

use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::http::{Service, status_json};

/// A distinct 64-hex transaction hash per `seed`, in lower case (a digest,
/// so it has letters for the case variants to differ in).
pub fn tx_hash(seed: &str) -> String {
    hex::encode(Sha256::digest(seed.as_bytes()))
}

/// Other spellings of one hash: upper, lower, alternating case, and padded
/// with whitespace. `n` spellings, cycling through those forms with a
/// different mix of letter case each time.
pub fn spellings(hash: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let mixed: String = hash
                .chars()
                .enumerate()
                .map(|(j, c)| {
                    if (j + i) % 3 == 0 {
                        c.to_ascii_uppercase()
                    } else {
                        c.to_ascii_lowercase()
                    }
                })
                .collect();
            match i % 4 {
                0 => hash.to_ascii_uppercase(),
                1 => hash.to_ascii_lowercase(),
                2 => mixed,
                _ => format!(" \t{mixed}\n"),
            }
        })
        .collect()
}

/// An answer to an economy request: status, JSON body, and whether it was a
/// replayed answer (`Idempotent-Replayed: true`).
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub replayed: bool,
}

impl Reply {
    /// The `(status, body)` pair `assert_error` takes.
    pub fn pair(&self) -> (u16, Value) {
        (self.status, self.body.clone())
    }
}

/// Send `method path` with `token`, an optional `Idempotency-Key` and an
/// optional JSON body.
pub async fn send(
    s: &Service,
    method: Method,
    path: &str,
    token: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> Reply {
    let mut req = s.client.request(method, s.url(path)).bearer_auth(token);
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.expect("send request");
    let replayed = res
        .headers()
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true");
    let (status, body) = status_json(res).await;
    Reply {
        status,
        body,
        replayed,
    }
}

/// POST as admin, without a key.
pub async fn post(s: &Service, path: &str, body: Value) -> Reply {
    send(s, Method::POST, path, &s.admin, None, Some(body)).await
}

/// GET as admin.
pub async fn get(s: &Service, path: &str) -> Reply {
    send(s, Method::GET, path, &s.admin, None, None).await
}

/// A credit or debit body for a holder.
pub fn change(
    currency: &str,
    wallet: &str,
    location: &str,
    key: Option<&str>,
    amount: &str,
) -> Value {
    let mut body = json!({
        "currency_code": currency,
        "wallet_address": wallet,
        "location": location,
        "amount": amount,
    });
    if let Some(k) = key {
        body["character_key"] = json!(k);
    }
    body
}

/// A holder object as a transfer names it.
pub fn holder(wallet: &str, location: &str, key: Option<&str>) -> Value {
    match key {
        Some(k) => json!({"wallet_address": wallet, "location": location, "character_key": k}),
        None => json!({"wallet_address": wallet, "location": location}),
    }
}

/// The balance `GET /v1/economy/balances` reports for one holder (`0.000000` when none).
pub async fn balance_of(
    s: &Service,
    currency: &str,
    wallet: &str,
    location: &str,
    key: Option<&str>,
) -> String {
    let mut path = format!(
        "/v1/economy/balances?currency_code={currency}&wallet_address={wallet}&location={location}"
    );
    if let Some(k) = key {
        path.push_str(&format!("&character_key={k}"));
    }
    let got = get(s, &path).await;
    assert_eq!(got.status, 200, "{}", got.body);
    let items = got.body["items"].as_array().expect("items");
    assert!(items.len() <= 1, "{}", got.body);
    items.first().map_or_else(
        || "0.000000".to_owned(),
        |b| b["balance"].as_str().unwrap().to_owned(),
    )
}

/// `n` copies of one POST as admin, all sent at once; their replies.
pub async fn at_once(
    s: &Arc<Service>,
    n: usize,
    path: &str,
    key: Option<&str>,
    body: Value,
) -> Vec<Reply> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (s, path, key, body) = (
                s.clone(),
                path.to_owned(),
                key.map(str::to_owned),
                body.clone(),
            );
            tokio::spawn(async move {
                send(
                    &s,
                    Method::POST,
                    &path,
                    &s.admin,
                    key.as_deref(),
                    Some(body),
                )
                .await
            })
        })
        .collect();
    let mut replies = Vec::with_capacity(n);
    for task in tasks {
        replies.push(task.await.expect("request task"));
    }
    replies
}
