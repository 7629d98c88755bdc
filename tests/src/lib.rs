//! Whole-system tests for Posfield: real server processes, real agent cores and real browsers on 127.0.0.1.
