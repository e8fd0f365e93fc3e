//! Integration tests: one binary, one module per behaviour area.

mod architecture;
mod backfill;
mod config;
mod daemon;
mod dedup;
mod docs;
mod encoding;
mod errors;
mod exactly_once;
mod extract;
mod health;
mod logs;
mod pipeline;
mod polling;
mod retag;
mod secrets;
mod sinks;
mod support;
mod tag;
mod web;
