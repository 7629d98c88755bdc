//! Rows in neutral values, for moving an install from one engine to the
//! other (`posfield-server migrate`): `store::sqlite` exports each table as
//! [`Value`]s and `store::postgres` imports them, so no module outside the
//! engines names SQL.

/// The tables both engines hold, in an order that satisfies their foreign
/// keys (a table comes after those it refers to). An engine's table that is
/// not here stops a migration: nothing is copied without a place for it.
pub const TABLES: &[&str] = &[
    "agents",
    "enrolment_codes",
    "devices",
    "credential_renewals",
    "device_earlier_keys",
    "actor_bindings",
    "users",
    "office_sessions",
    "doc_chunks",
    "quarantined_chunks",
    "visits",
    "visit_blobs",
    "blobs",
    "blob_uploads",
    "terminals",
    "audit",
    "countersignatures",
    "settings",
    "terminal_register",
    "register_effects",
    "terminal_events",
    "custody_events",
    "outbox",
];

/// Tables only the PostgreSQL engine has: the claims of visit ids not
/// projected yet, which the SQLite engine keeps in memory (a phone's next
/// sync claims them again).
pub const POSTGRES_ONLY: &[&str] = &["visit_claims"];

/// One column's value, as both engines can hold it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// An integer (PostgreSQL's `BIGINT`, or a 0/1 `BOOLEAN`).
    Integer(i64),
    /// Text.
    Text(String),
    /// Bytes (SQLite's `BLOB`, PostgreSQL's `BYTEA`).
    Bytes(Vec<u8>),
    /// No value.
    Null,
}

impl Value {
    /// What kind of value it is, to name in an error.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Integer(_) => "an integer",
            Value::Text(_) => "text",
            Value::Bytes(_) => "bytes",
            Value::Null => "null",
        }
    }
}

/// A page of a table's rows, each with the values of `columns` in order.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// The columns' names.
    pub columns: Vec<String>,
    /// The rows.
    pub rows: Vec<Vec<Value>>,
    /// Where the next page starts (the engine's own position), `None`
    /// after the last.
    pub next: Option<i64>,
}
