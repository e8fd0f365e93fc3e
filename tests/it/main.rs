//! Integration tests: one binary, one module per behaviour area.

mod backfill;
mod daemon;
mod dedup;
mod pipeline;
mod support;
