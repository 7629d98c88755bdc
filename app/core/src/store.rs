//! The agent's local SQLite store.
