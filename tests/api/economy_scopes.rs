//! Who may call the economy routes, over real HTTP on both backends: every
//! route of the table is tried with each kind of token.

use crate::support::economy::send;
use crate::support::http::{Service, assert_error, test_settings};
use mnemo::http::{Access, routes};
use reqwest::Method;
use serde_json::json;

/// A concrete path for a route pattern (any value for each parameter: the
/// scope is checked before the handler runs).
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                "1"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

async fn each_economy_route_needs_its_scope(backend: &str) {
    let s = Service::start(backend, test_settings()).await;
    let reader = s.token("economy-reader", "economy:read").await;
    let writer = s.token("economy-writer", "economy:write").await;
    let memory = s.token("npc-ai", "memory:read,memory:write").await;
    let economy: Vec<_> = routes()
        .into_iter()
        .filter(|e| e.path.starts_with("/v1/economy"))
        .collect();
    assert!(economy.len() >= 25, "{economy:?}");
    for e in &economy {
        let method = Method::from_bytes(e.method.as_str().as_bytes()).unwrap();
        let path = concrete(&e.path);
        let needs_write = match e.access {
            Access::Scope(scope) => scope.name() == "economy:write",
            other => panic!("{e:?} must need an economy scope, not {other:?}"),
        };
        assert_eq!(
            needs_write,
            e.method != "GET",
            "{e:?}: writes need economy:write"
        );
        let wrong = if needs_write { &reader } else { &writer };
        for token in [wrong, &memory] {
            let got = send(&s, method.clone(), &path, token, None, Some(json!({}))).await;
            assert_error(&got.pair(), 403, "forbidden", None);
        }
        let anonymous = s.call(method.clone(), &path, None, None).await;
        assert_eq!(anonymous.status(), 401, "{e:?}");
        let right = if needs_write { &writer } else { &reader };
        for token in [right, &s.admin] {
            let got = send(&s, method.clone(), &path, token, None, Some(json!({}))).await;
            assert!(
                ![401, 403].contains(&got.status),
                "{e:?} refused a token with its scope: {}",
                got.body
            );
        }
    }
    s.stop().await;
}

on_both_backends!(each_economy_route_needs_its_scope);
