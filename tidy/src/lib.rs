//! Tidy checks over the workspace as a whole, run by `cargo test`.
//!
//! A check that one crate can make about itself (posfield-shared reads no
//! clock) lives in that crate's tests. What is about the shape of the
//! workspace lives here:
//!
//! - [`arrows`]: the dependency arrows between crates that must never exist
//!   (the phone reaching server code, the server reaching the agent's core,
//!   the domain reaching I/O), one table of rules and a checker that asks
//!   cargo how each package's own build resolves.

pub mod arrows;
