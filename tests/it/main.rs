//! Integration tests: one binary, one module per behaviour area.

mod backfill;
mod pipeline;
mod support;
