//! The `WHERE` clause of a [`JobFilter`], for either backend: the list of jobs and the bulk
//! actions select with it.
//!
//! Built from the filter's present fields only, not one fixed statement with
//! `(? IS NULL OR state = ?)` for every field: that form hides from both planners which
//! conditions apply, so SQLite walks every row by id and PostgreSQL's generic plan does the
//! same, while a clause naming only `state = ?` lets each use its index (`jobs_by_state`,
//! `jobs_by_module`, `jobs_by_schedule`) on a store of 100k jobs. Each condition is a fixed
//! fragment with a placeholder; values are always bound, never written into the SQL.

use super::rows::micros;
use super::{JobFilter, JobId};

/// A statement (or fragment) from a `.sql` file with `marker` (`{filter}`, `{where}`,
/// `{values}`) replaced by `text`. Its comment lines are left out first: they may name the
/// marker, and a fragment's comment has no place inside the statement it completes.
pub fn fill(sql: &str, marker: &str, text: &str) -> String {
    let lines: Vec<&str> =
        sql.lines().filter(|line| !line.trim_start().starts_with("--")).collect();
    lines.join("\n").replace(marker, text)
}

/// Which database the clause is for: how placeholders are written and how a substring is
/// found (`instr` and `strpos` both compare exactly, case and all, and need no escaping,
/// unlike `LIKE`, whose `%` and `_` a search would have to escape).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// `?N`, `instr(…)`.
    Sqlite,
    /// `$N`, `strpos(…)`.
    Postgres,
}

/// A bound value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// An integer.
    Int(i64),
    /// Text.
    Text(String),
}

/// A clause and its values in placeholder order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Clause {
    /// `a = ?1 AND b = ?2`, or `TRUE` when nothing narrows.
    pub sql: String,
    /// The values of `?1`, `?2`, ….
    pub values: Vec<Value>,
}

/// Builds the clause, numbering placeholders after `first - 1` already taken.
struct Builder {
    dialect: Dialect,
    first: usize,
    conditions: Vec<String>,
    values: Vec<Value>,
}

impl Builder {
    /// The placeholder of the next value, which it binds.
    fn bind(&mut self, value: Value) -> String {
        self.values.push(value);
        let n = self.first + self.values.len() - 1;
        match self.dialect {
            Dialect::Sqlite => format!("?{n}"),
            Dialect::Postgres => format!("${n}"),
        }
    }

    fn equal(&mut self, column: &str, value: Value) {
        let placeholder = self.bind(value);
        self.conditions.push(format!("{column} = {placeholder}"));
    }

    fn compare(&mut self, column: &str, operator: &str, value: i64) {
        let placeholder = self.bind(Value::Int(value));
        self.conditions.push(format!("{column} {operator} {placeholder}"));
    }

    /// `name` contains `text`.
    fn contains(&mut self, text: &str) -> String {
        let placeholder = self.bind(Value::Text(text.to_string()));
        match self.dialect {
            Dialect::Sqlite => format!("instr(name, {placeholder}) > 0"),
            Dialect::Postgres => format!("strpos(name, {placeholder}) > 0"),
        }
    }
}

/// The filter's conditions (every field but `limit`), placeholders numbered from `first`.
pub fn clause(filter: &JobFilter, dialect: Dialect, first: usize) -> Clause {
    let mut b = Builder { dialect, first, conditions: Vec::new(), values: Vec::new() };
    let text = |value: &String| Value::Text(value.clone());
    if let Some(tenant) = &filter.tenant {
        b.equal("tenant", text(tenant));
    }
    if let Some(state) = filter.state {
        b.equal("state", Value::Text(state.as_str().to_string()));
    }
    if let Some(hash) = &filter.module_hash {
        b.equal("module_hash", text(hash));
    }
    if let Some(lane) = &filter.lane {
        b.equal("lane", text(lane));
    }
    if let Some(node) = &filter.node {
        b.equal("node", text(node));
    }
    if let Some(schedule) = &filter.schedule {
        b.equal("schedule", text(schedule));
    }
    if let Some(workflow) = filter.workflow {
        b.equal("workflow_id", Value::Int(workflow));
    }
    if let Some(name) = &filter.name {
        let condition = b.contains(name);
        b.conditions.push(condition);
    }
    if let Some(search) = &filter.search {
        let by_name = b.contains(search);
        let condition = match search_id(search) {
            Some(id) => {
                let placeholder = b.bind(Value::Int(id));
                format!("(id = {placeholder} OR {by_name})")
            }
            None => by_name,
        };
        b.conditions.push(condition);
    }
    if let Some(after) = filter.submitted_after {
        b.compare("submitted_at", ">=", micros(after));
    }
    if let Some(before) = filter.submitted_before {
        b.compare("submitted_at", "<", micros(before));
    }
    if let Some(id) = filter.before {
        b.compare("id", "<", id);
    }
    let sql = if b.conditions.is_empty() { "TRUE".to_string() } else { b.conditions.join(" AND ") };
    Clause { sql, values: b.values }
}

/// A search of digits names a job id too.
fn search_id(search: &str) -> Option<JobId> {
    if search.is_empty() || !search.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    search.parse().ok()
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::store::JobState;

    #[test]
    fn only_present_fields_become_conditions() {
        let none = clause(&JobFilter::default(), Dialect::Sqlite, 1);
        assert_eq!((none.sql.as_str(), none.values.len()), ("TRUE", 0));

        let filter = JobFilter {
            state: Some(JobState::Failed),
            search: Some("42".into()),
            submitted_after: Some(UNIX_EPOCH + Duration::from_secs(1)),
            before: Some(100),
            limit: 10,
            ..JobFilter::default()
        };
        let pg = clause(&filter, Dialect::Postgres, 2);
        assert_eq!(
            pg.sql,
            "state = $2 AND (id = $4 OR strpos(name, $3) > 0) AND submitted_at >= $5 AND id < $6"
        );
        assert_eq!(
            pg.values,
            [
                Value::Text("failed".into()),
                Value::Text("42".into()),
                Value::Int(42),
                Value::Int(1_000_000),
                Value::Int(100)
            ]
        );
        let words = JobFilter { search: Some("nightly".into()), ..JobFilter::default() };
        assert_eq!(clause(&words, Dialect::Sqlite, 1).sql, "instr(name, ?1) > 0");
    }
}
