//! Content-addressed blob files.
