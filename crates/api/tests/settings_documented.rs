#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Keeps the settings reference of the documentation and the `Settings` struct in agreement.
//!
//! The documentation marks its settings tables with two HTML comments,
//! `<!-- settings-table:start -->` and `<!-- settings-table:end -->`. Every row of a marked table
//! documents one variable: its first cell names it (`RECOZIK_WEB_…`), its second cell gives the
//! default and its last cell the meaning. A setting added to the code without a row, or a row
//! whose setting is gone, fails [`every_setting_is_documented_and_nothing_else`]; a documented
//! default that no longer matches the code fails [`documented_defaults_match_the_code`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use recozik_api::settings::{ENV_PREFIX, Settings};

/// The documents that may hold settings tables, relative to the workspace root.
const DOCUMENTS: &[&str] = &["docs/configuration.md", "docs/deploy-backend.md"];
const START_MARKER: &str = "<!-- settings-table:start -->";
const END_MARKER: &str = "<!-- settings-table:end -->";

/// One documented setting: a row of a marked table.
#[derive(Debug)]
struct Row {
    variable: String,
    default: String,
    meaning: String,
    location: String,
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/api sits two levels under the workspace root")
        .to_owned()
}

/// The `RECOZIK_WEB_…` name in a table cell (written in backquotes, possibly with other text).
fn variable_in(cell: &str) -> Option<String> {
    let start = cell.find(ENV_PREFIX)?;
    let name: String = cell[start..]
        .chars()
        .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
        .collect();
    (name.len() > ENV_PREFIX.len()).then_some(name)
}

fn cells(line: &str) -> Vec<String> {
    let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
    inner
        .split('|')
        .map(|cell| cell.trim().to_owned())
        .collect()
}

fn is_separator(cells: &[String]) -> bool {
    cells
        .iter()
        .all(|cell| !cell.is_empty() && cell.chars().all(|c| matches!(c, '-' | ':' | ' ')))
}

/// Every row of every marked table, in document order.
fn documented_rows() -> Vec<Row> {
    let root = workspace_root();
    let mut rows = Vec::new();
    let mut tables = 0;
    for document in DOCUMENTS {
        let path = root.join(document);
        let text = std::fs::read_to_string(&path)
            .map_err(|error| format!("cannot read {}: {error}", path.display()))
            .unwrap();
        let mut inside = false;
        let mut header_seen = false;
        for (index, line) in text.lines().enumerate() {
            let location = format!("{document}:{}", index + 1);
            let trimmed = line.trim();
            if trimmed == START_MARKER {
                assert!(!inside, "{location}: settings table opened twice");
                inside = true;
                header_seen = false;
                tables += 1;
                continue;
            }
            if trimmed == END_MARKER {
                assert!(inside, "{location}: settings table closed but never opened");
                inside = false;
                continue;
            }
            if !inside || !trimmed.starts_with('|') {
                continue;
            }
            let cells = cells(trimmed);
            if is_separator(&cells) {
                continue;
            }
            if !header_seen {
                header_seen = true; // the first row of a table holds the column titles
                continue;
            }
            let variable = variable_in(&cells[0])
                .ok_or_else(|| {
                    format!(
                        "{location}: a settings table row must name its variable in its first cell"
                    )
                })
                .unwrap();
            assert!(
                cells.len() >= 3,
                "{location}: a settings row needs at least three cells (variable, default, meaning)"
            );
            rows.push(Row {
                variable,
                default: cells[1].clone(),
                meaning: cells[cells.len() - 1].clone(),
                location,
            });
        }
        assert!(!inside, "{document}: a settings table is never closed");
    }
    assert!(
        tables > 0,
        "no settings table (marked with {START_MARKER}) found in {DOCUMENTS:?}"
    );
    rows
}

fn code_variables() -> BTreeSet<String> {
    Settings::names()
        .iter()
        .map(|name| format!("{ENV_PREFIX}{}", name.to_ascii_uppercase()))
        .collect()
}

#[test]
fn every_setting_is_documented_and_nothing_else() {
    let rows = documented_rows();
    let mut documented = BTreeSet::new();
    let mut duplicates = Vec::new();
    for row in &rows {
        if !documented.insert(row.variable.clone()) {
            duplicates.push(format!("{} ({})", row.variable, row.location));
        }
    }
    let code = code_variables();
    assert!(!code.is_empty(), "Settings::names() returned nothing");

    let undocumented: Vec<&String> = code.difference(&documented).collect();
    let gone: Vec<&String> = documented.difference(&code).collect();
    let mut message = String::new();
    if !undocumented.is_empty() {
        writeln!(
            message,
            "settings in the code but missing from the documentation tables: {undocumented:?}"
        )
        .unwrap();
    }
    if !gone.is_empty() {
        writeln!(
            message,
            "settings documented but not in the code (renamed or removed?): {gone:?}"
        )
        .unwrap();
    }
    if !duplicates.is_empty() {
        writeln!(
            message,
            "settings documented more than once: {duplicates:?}"
        )
        .unwrap();
    }
    for row in &rows {
        if row.meaning.is_empty() || row.default.is_empty() {
            writeln!(
                message,
                "{}: {} needs a default and a meaning",
                row.location, row.variable
            )
            .unwrap();
        }
    }
    assert!(
        message.is_empty(),
        "{message}(documents checked: {DOCUMENTS:?}; each setting is the variable \
         {ENV_PREFIX}<FIELD IN UPPER CASE>)"
    );
}

/// What the default cell must contain for the code's default `value`.
fn expected_fragments(value: &serde_json::Value) -> Vec<String> {
    match value {
        serde_json::Value::Null => vec!["unset".to_owned()],
        serde_json::Value::Bool(flag) => vec![flag.to_string()],
        serde_json::Value::Number(number) => vec![number.to_string()],
        serde_json::Value::String(text) => vec![text.clone()],
        serde_json::Value::Array(items) if items.is_empty() => vec!["empty".to_owned()],
        serde_json::Value::Array(items) => items.iter().flat_map(expected_fragments).collect(),
        serde_json::Value::Object(_) => Vec::new(),
    }
}

#[test]
fn documented_defaults_match_the_code() {
    let defaults = match serde_json::to_value(Settings::default()).unwrap() {
        serde_json::Value::Object(map) => map,
        other => panic!("Settings serialises to {other}, not an object"),
    };
    let by_variable: BTreeMap<String, serde_json::Value> = defaults
        .into_iter()
        .map(|(name, value)| (format!("{ENV_PREFIX}{}", name.to_ascii_uppercase()), value))
        .collect();
    let mut mismatches = Vec::new();
    for row in documented_rows() {
        let Some(value) = by_variable.get(&row.variable) else {
            continue; // reported by the other test
        };
        let cell = row.default.to_ascii_lowercase();
        let missing: Vec<String> = expected_fragments(value)
            .into_iter()
            .filter(|fragment| !cell.contains(&fragment.to_ascii_lowercase()))
            .collect();
        if !missing.is_empty() {
            mismatches.push(format!(
                "{}: {} documents the default {} but the code's default is {value} \
                 (the cell should contain {missing:?})",
                row.location, row.variable, row.default
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "documented defaults differ from Settings::default():\n{}",
        mismatches.join("\n")
    );
}
