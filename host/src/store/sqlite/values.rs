//! Values as the writer binds them: the time, multi-row placeholders, and parameters
//! borrowed from the change they come from.

use std::time::SystemTime;

use rusqlite::ToSql;
use rusqlite::types::{ToSqlOutput, ValueRef};

use crate::store::filter::{self, Value};
use crate::store::rows::micros;

/// This host's clock, as stored (µs since the epoch).
pub fn now() -> i64 {
    micros(SystemTime::now())
}

/// `(?, ?, …), (?, ?, …), …`: `rows` rows of `columns` placeholders.
pub fn placeholders(rows: usize, columns: usize) -> String {
    let row = format!("({})", vec!["?"; columns].join(", "));
    vec![row; rows].join(", ")
}

/// A statement from a `.sql` file with its `{values}` made `rows` rows of `columns`.
pub fn multi_row(sql: &str, rows: usize, columns: usize) -> String {
    filter::fill(sql, "{values}", &placeholders(rows, columns))
}

/// A parameter of a multi-row statement, borrowed from the change where it can be.
pub type Param<'a> = ToSqlOutput<'a>;

pub fn int(value: i64) -> Param<'static> {
    ToSqlOutput::Borrowed(ValueRef::Integer(value))
}

pub fn opt_int(value: Option<i64>) -> Param<'static> {
    ToSqlOutput::Borrowed(value.map_or(ValueRef::Null, ValueRef::Integer))
}

pub fn text(value: &str) -> Param<'_> {
    ToSqlOutput::Borrowed(ValueRef::Text(value.as_bytes()))
}

pub fn opt_text(value: Option<&str>) -> Param<'_> {
    value.map_or(ToSqlOutput::Borrowed(ValueRef::Null), text)
}

pub fn blob(value: &[u8]) -> Param<'_> {
    ToSqlOutput::Borrowed(ValueRef::Blob(value))
}

impl ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Int(value) => ValueRef::Integer(*value),
            Value::Text(text) => ValueRef::Text(text.as_bytes()),
        }))
    }
}
