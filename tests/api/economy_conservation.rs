//! What a payment system must promise, over real HTTP on both backends:
//! money is conserved under random concurrent credits, debits and transfers
//! (8 clients, 3,200 operations, a fifth of them retried with their key), and
//! concurrent debits never overdraw.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::support::economy::{Reply, at_once, balance_of, change, holder, send};
use crate::support::http::{Service, assert_error, test_settings};
use mnemo::db::Alias;
use mnemo::with_pool;
use mnemo::xrpl;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::Method;
use rust_decimal::Decimal;
use serde_json::json;

const CLIENTS: u64 = 8;
const OPS_PER_CLIENT: usize = 400;
const CURRENCIES: [&str; 3] = ["FCMGold", "FCMWheat", "PTrainDagger"];
const WALLETS: [&str; 4] = ["rConserveA", "rConserveB", "rConserveC", "rConserveD"];

/// A holder of the test: (wallet, location, character key).
type H = (&'static str, &'static str, Option<&'static str>);

fn holders() -> Vec<H> {
    WALLETS
        .iter()
        .flat_map(|w| {
            [
                (*w, "ACCOUNT", None),
                (*w, "CHARACTER", Some("first")),
                (*w, "CHARACTER", Some("second")),
            ]
        })
        .collect()
}

#[derive(Debug, Clone)]
enum Op {
    Credit(H),
    Debit(H),
    Transfer(H, H),
}

#[derive(Debug, Clone)]
struct Done {
    tag: String,
    currency: &'static str,
    op: Op,
    amount: Decimal,
    applied: bool,
    retried: bool,
}

/// 1 to 30 units with up to six decimals, written in its shortest form.
fn amount(rng: &mut StdRng, max_units: i64) -> Decimal {
    Decimal::new(rng.random_range(1..=max_units * 1_000_000), 6).normalize()
}

fn request(
    op: &Op,
    currency: &str,
    amount: Decimal,
    tag: &str,
) -> (&'static str, serde_json::Value) {
    let amount = amount.to_string();
    match op {
        Op::Credit((w, l, k)) | Op::Debit((w, l, k)) => {
            let mut body = change(currency, w, l, *k, &amount);
            body["transfer_type"] = json!(tag);
            let path = if matches!(op, Op::Credit(_)) {
                "/v1/economy/credits"
            } else {
                "/v1/economy/debits"
            };
            (path, body)
        }
        Op::Transfer((fw, fl, fk), (tw, tl, tk)) => (
            "/v1/economy/transfers",
            json!({"currency_code": currency, "from": holder(fw, fl, *fk), "to": holder(tw, tl, *tk),
                   "amount": amount, "transfer_type": tag}),
        ),
    }
}

/// One client: random operations one after another; a fifth are sent twice
/// with one key, and the second answer must be the first, replayed.
async fn client(s: Arc<Service>, seed: u64, id: u64) -> Vec<Done> {
    let mut rng = StdRng::seed_from_u64(seed ^ id.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let all = holders();
    let mut done = Vec::with_capacity(OPS_PER_CLIENT);
    for i in 0..OPS_PER_CLIENT {
        let tag = format!("prop-{id}-{i}");
        let currency = CURRENCIES[rng.random_range(0..CURRENCIES.len())];
        let pick = |rng: &mut StdRng| all[rng.random_range(0..all.len())];
        let (op, amount) = match rng.random_range(0..100) {
            0..35 => (Op::Credit(pick(&mut rng)), amount(&mut rng, 20)),
            35..60 => (Op::Debit(pick(&mut rng)), amount(&mut rng, 30)),
            _ => {
                let from = pick(&mut rng);
                let mut to = pick(&mut rng);
                while to == from {
                    to = pick(&mut rng);
                }
                (Op::Transfer(from, to), amount(&mut rng, 30))
            }
        };
        let (path, body) = request(&op, currency, amount, &tag);
        let retried = rng.random_range(0..5) == 0;
        let key = retried.then(|| format!("key-{seed}-{tag}"));
        let reply: Reply = send(
            &s,
            Method::POST,
            path,
            &s.admin,
            key.as_deref(),
            Some(body.clone()),
        )
        .await;
        let applied = match reply.status {
            201 => true,
            409 => {
                assert_eq!(
                    reply.body["error"]["code"], "insufficient_balance",
                    "seed {seed}: {tag}"
                );
                false
            }
            other => panic!("seed {seed}: {tag} {path} answered {other}: {}", reply.body),
        };
        if retried {
            let again = send(&s, Method::POST, path, &s.admin, key.as_deref(), Some(body)).await;
            assert!(again.replayed, "seed {seed}: {tag}");
            assert_eq!(again.pair(), reply.pair(), "seed {seed}: {tag}");
        }
        done.push(Done {
            tag,
            currency,
            op,
            amount,
            applied,
            retried,
        });
    }
    done
}

type LogRow = (String, String, String, String, String);

async fn money_is_conserved_under_concurrent_random_operations(backend: &str) {
    let s = Arc::new(Service::start(backend, test_settings()).await);
    let seed: u64 = rand::random();
    let mut tasks = Vec::new();
    for id in 0..CLIENTS {
        tasks.push(tokio::spawn(client(s.clone(), seed, id)));
    }
    let mut done = Vec::new();
    for task in tasks {
        done.extend(task.await.unwrap());
    }
    assert_eq!(done.len(), CLIENTS as usize * OPS_PER_CLIENT);
    let applied = done.iter().filter(|d| d.applied).count();
    assert!(
        applied > done.len() / 2,
        "seed {seed}: only {applied} applied"
    );

    // Every holder ends at what its applied operations add up to.
    let mut expected: BTreeMap<(&str, H), Decimal> = BTreeMap::new();
    let mut supply: BTreeMap<&str, Decimal> = BTreeMap::new();
    for d in done.iter().filter(|d| d.applied) {
        match d.op {
            Op::Credit(h) => {
                *expected.entry((d.currency, h)).or_default() += d.amount;
                *supply.entry(d.currency).or_default() += d.amount;
            }
            Op::Debit(h) => {
                *expected.entry((d.currency, h)).or_default() -= d.amount;
                *supply.entry(d.currency).or_default() -= d.amount;
            }
            Op::Transfer(from, to) => {
                *expected.entry((d.currency, from)).or_default() -= d.amount;
                *expected.entry((d.currency, to)).or_default() += d.amount;
            }
        }
    }
    let mut held: BTreeMap<&str, Decimal> = BTreeMap::new();
    for currency in CURRENCIES {
        for h in holders() {
            let (w, l, k) = h;
            let got: Decimal = balance_of(&s, currency, w, l, k).await.parse().unwrap();
            let want = expected.get(&(currency, h)).copied().unwrap_or_default();
            assert_eq!(got, want, "seed {seed}: {currency} held by {h:?}");
            assert!(
                got >= Decimal::ZERO,
                "seed {seed}: {currency} {h:?} is negative"
            );
            *held.entry(currency).or_default() += got;
        }
        assert_eq!(
            held.get(currency).copied().unwrap_or_default(),
            supply.get(currency).copied().unwrap_or_default(),
            "seed {seed}: {currency}: holders' sum = credits - debits"
        );
    }

    // No row at zero or below, and no row outside the test's holders.
    let rows: Vec<(String, String)> = with_pool!(s.t.db.pool(Alias::Xrpl), |p| {
        sqlx::query_as(
            "SELECT wallet_address, CAST(balance AS TEXT) FROM xrpl_fungiblegamestate
             WHERE wallet_address LIKE 'rConserve%'",
        )
        .fetch_all(p)
        .await
        .unwrap()
    });
    for (wallet, balance) in &rows {
        let b: Decimal = balance.parse().unwrap();
        assert!(
            b > Decimal::ZERO,
            "seed {seed}: {wallet} has a row at {balance}"
        );
    }

    // Exactly one log row per change: credits (from MINT), debits (to BURN)
    // and transfers between wallets; none for refused operations or for moves
    // inside one wallet (not logged, as in the original).
    let logs: Vec<LogRow> = with_pool!(s.t.db.pool(Alias::Xrpl), |p| {
        sqlx::query_as(
            "SELECT transfer_type, currency_code, from_wallet, to_wallet, CAST(amount AS TEXT)
             FROM xrpl_fungibletransferlog WHERE transfer_type LIKE 'prop-%'",
        )
        .fetch_all(p)
        .await
        .unwrap()
    });
    let mut by_tag: HashMap<&str, Vec<&LogRow>> = HashMap::new();
    for row in &logs {
        by_tag.entry(row.0.as_str()).or_default().push(row);
    }
    let mut logged = 0;
    for d in &done {
        let rows = by_tag.remove(d.tag.as_str()).unwrap_or_default();
        let want = match (d.applied, &d.op) {
            (false, _) => None,
            (true, Op::Credit(h)) => Some(("MINT", h.0)),
            (true, Op::Debit(h)) => Some((h.0, "BURN")),
            (true, Op::Transfer(from, to)) if from.0 != to.0 => Some((from.0, to.0)),
            (true, Op::Transfer(..)) => None,
        };
        match want {
            None => assert!(rows.is_empty(), "seed {seed}: {} logged {rows:?}", d.tag),
            Some((from, to)) => {
                assert_eq!(rows.len(), 1, "seed {seed}: {}", d.tag);
                let (_, currency, f, t, amount) = rows[0];
                let amount: Decimal = amount.parse().unwrap();
                assert_eq!(
                    (currency.as_str(), f.as_str(), t.as_str(), amount),
                    (d.currency, from, to, d.amount),
                    "seed {seed}: {}",
                    d.tag
                );
                logged += 1;
            }
        }
    }
    assert!(
        by_tag.is_empty(),
        "seed {seed}: rows of no operation: {by_tag:?}"
    );
    assert_eq!(logs.len(), logged);

    let audit = xrpl::audit(&s.t.db).await.unwrap();
    assert!(audit.is_sound(), "seed {seed}: {:?}", audit.problems);
    let retried = done.iter().filter(|d| d.retried).count();
    eprintln!(
        "{backend}: seed {seed}: {} operations by {CLIENTS} clients, {applied} applied, {} refused, \
         {retried} retried, {logged} log rows",
        done.len(),
        done.len() - applied
    );
    if let Ok(s) = Arc::try_unwrap(s) {
        s.stop().await;
    }
}

/// 20 debits of 10 at once from a balance of 100: exactly 10 succeed.
async fn concurrent_debits_never_overdraw(backend: &str) {
    let s = Arc::new(Service::start(backend, test_settings()).await);
    let wallet = "rOverdraft";
    let funded = send(
        &s,
        Method::POST,
        "/v1/economy/credits",
        &s.admin,
        None,
        Some(change("FCMGold", wallet, "ACCOUNT", None, "100")),
    )
    .await;
    assert_eq!(funded.status, 201);
    let debit = change("FCMGold", wallet, "ACCOUNT", None, "10");
    let mut succeeded = 0;
    for got in at_once(&s, 20, "/v1/economy/debits", None, debit).await {
        if got.status == 201 {
            succeeded += 1;
        } else {
            assert_error(
                &got.pair(),
                409,
                "insufficient_balance",
                Some("wallet_address"),
            );
        }
    }
    assert_eq!(succeeded, 10);
    assert_eq!(
        balance_of(&s, "FCMGold", wallet, "ACCOUNT", None).await,
        "0.000000"
    );
    let rows: i64 = with_pool!(s.t.db.pool(Alias::Xrpl), |p| {
        sqlx::query_scalar("SELECT COUNT(*) FROM xrpl_fungiblegamestate WHERE wallet_address = $1")
            .bind(wallet)
            .fetch_one(p)
            .await
            .unwrap()
    });
    assert_eq!(rows, 0, "the emptied row is deleted");
    let burns: i64 = with_pool!(s.t.db.pool(Alias::Xrpl), |p| {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM xrpl_fungibletransferlog WHERE from_wallet = $1 AND to_wallet = 'BURN'",
        )
        .bind(wallet)
        .fetch_one(p)
        .await
        .unwrap()
    });
    assert_eq!(burns, 10);
    if let Ok(s) = Arc::try_unwrap(s) {
        s.stop().await;
    }
}

on_both_backends!(
    money_is_conserved_under_concurrent_random_operations,
    concurrent_debits_never_overdraw,
);
