//! Integration tests: one binary, one module per behaviour area.

mod backfill;
mod daemon;
mod pipeline;
mod support;
