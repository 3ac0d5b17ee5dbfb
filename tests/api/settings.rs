//! Every variable the service reads is in the README's tables, and every
//! variable the README's tables name is one the service (or its tooling) reads.

use std::collections::BTreeSet;

use mnemo::cli::settings::vars;

/// `NAME` from each table row that starts with `` | `NAME` | `` (a variable's
/// name has an underscore; a route table's first column does not).
fn readme_variables() -> BTreeSet<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    readme
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split('`').next())
        .filter(|name| {
            name.contains('_')
                && name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        })
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_readme_tables_and_the_settings_name_the_same_variables() {
    let documented = readme_variables();
    let missing: Vec<&&str> = vars::ALL
        .iter()
        .filter(|v| !documented.contains(**v))
        .collect();
    assert!(
        missing.is_empty(),
        "read but not in the README: {missing:?}"
    );
    let unknown: Vec<&String> = documented
        .iter()
        .filter(|v| !vars::ALL.contains(&v.as_str()) && !vars::TOOLING.contains(&v.as_str()))
        .collect();
    assert!(
        unknown.is_empty(),
        "in the README but read by nothing: {unknown:?}"
    );
}
