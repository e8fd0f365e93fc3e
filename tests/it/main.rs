//! Integration tests: one binary, one module per behaviour area.

mod backfill;
mod daemon;
mod dedup;
mod extract;
mod pipeline;
mod polling;
mod sinks;
mod support;
mod tag;
