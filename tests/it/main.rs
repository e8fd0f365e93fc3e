//! Integration tests: one binary, one module per behaviour area.

mod backfill;
mod daemon;
mod dedup;
mod encoding;
mod errors;
mod extract;
mod logs;
mod pipeline;
mod sinks;
mod support;
mod tag;
