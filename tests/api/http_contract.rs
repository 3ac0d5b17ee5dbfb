//! The route table and `openapi.yaml` describe the same API: same routes, same
//! scopes, every error code documented, every operation listing the errors it
//! can return.

use std::collections::BTreeSet;

use mnemo::http::error::ERROR_CODES;
use mnemo::http::{Access, routes};
use serde_json::Value;

const METHODS: [&str; 7] = ["get", "post", "put", "patch", "delete", "head", "options"];

fn spec() -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.yaml"))
        .expect("read openapi.yaml");
    serde_norway::from_str(&text).expect("openapi.yaml is YAML")
}

/// (METHOD, path) of every operation in the spec.
fn spec_operations(spec: &Value) -> BTreeSet<(String, String)> {
    let paths = spec["paths"].as_object().expect("paths");
    let mut ops = BTreeSet::new();
    for (path, item) in paths {
        for method in METHODS {
            if item.get(method).is_some() {
                ops.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    ops
}

fn operation<'a>(spec: &'a Value, method: &str, path: &str) -> &'a Value {
    &spec["paths"][path][method.to_lowercase()]
}

#[test]
fn served_routes_and_spec_routes_are_the_same() {
    let served: Vec<(String, String)> = routes()
        .iter()
        .map(|e| (e.method.to_string(), e.path.to_owned()))
        .collect();
    let served_set: BTreeSet<_> = served.iter().cloned().collect();
    assert_eq!(served.len(), served_set.len(), "a route is declared twice");
    let documented = spec_operations(&spec());
    let undocumented: Vec<_> = served_set.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served_set).collect();
    assert!(
        undocumented.is_empty() && unserved.is_empty(),
        "served but not in openapi.yaml: {undocumented:?}; in openapi.yaml but not served: {unserved:?}"
    );
}

#[test]
fn scopes_and_security_match_the_route_table() {
    let spec = spec();
    for e in routes() {
        let op = operation(&spec, e.method.as_str(), &e.path);
        let scopes: Vec<&str> = op["x-mnemo-scopes"]
            .as_array()
            .unwrap_or_else(|| panic!("{e:?}: x-mnemo-scopes missing"))
            .iter()
            .map(|v| v.as_str().expect("scope is a string"))
            .collect();
        assert_eq!(scopes, e.access.spec_scopes(), "{e:?}: x-mnemo-scopes");
        let security = op["security"]
            .as_array()
            .unwrap_or_else(|| panic!("{e:?}: security missing"));
        let bearer = serde_json::json!({"bearerAuth": []});
        let anonymous = serde_json::json!({});
        match e.access {
            Access::Open => assert!(security.is_empty(), "{e:?}: must be open"),
            Access::Metrics => assert!(
                security.contains(&anonymous) && security.contains(&bearer),
                "{e:?}: optional bearer"
            ),
            Access::Scope(_) => assert_eq!(security, &vec![bearer], "{e:?}: bearer required"),
        }
    }
}

#[test]
fn every_error_code_is_documented() {
    let spec = spec();
    let documented: BTreeSet<&str> = spec["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .expect("ErrorCode enum")
        .iter()
        .map(|v| v.as_str().expect("code"))
        .collect();
    let known: BTreeSet<&str> = ERROR_CODES.iter().map(|(_, code)| *code).collect();
    assert_eq!(documented, known);
    let description = spec["info"]["description"].as_str().expect("description");
    for (status, code) in ERROR_CODES {
        assert!(
            description.contains(&format!("| {status} | `{code}` |")),
            "error table lacks {status} {code}"
        );
    }
}

#[test]
fn every_operation_lists_the_errors_it_can_return() {
    let spec = spec();
    for e in routes() {
        let op = operation(&spec, e.method.as_str(), &e.path);
        let responses = op["responses"].as_object().expect("responses");
        let mut required: Vec<&str> = Vec::new();
        if matches!(e.access, Access::Scope(_)) {
            required.extend(["401", "403", "429", "500", "503"]);
        }
        if e.path.contains('{') {
            required.extend(["400", "404"]);
        }
        if op.get("requestBody").is_some() {
            required.extend(["400", "413", "415"]);
        }
        for status in required {
            assert!(
                responses.contains_key(status),
                "{e:?} does not document {status}"
            );
        }
        assert!(
            responses.keys().any(|s| s.starts_with('2')),
            "{e:?} documents no success"
        );
    }
}
