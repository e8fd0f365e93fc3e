//! Integration tests: one binary, one module per behaviour area.

mod backfill;
mod config;
mod daemon;
mod dedup;
mod exactly_once;
mod extract;
mod pipeline;
mod polling;
mod sinks;
mod support;
mod tag;
