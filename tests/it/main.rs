//! Integration tests: one binary, one module per behaviour area.

mod backfill;
mod config;
mod daemon;
mod dedup;
mod extract;
mod pipeline;
mod sinks;
mod support;
mod tag;
