//! Integration tests: one binary, one module per behaviour area.

mod architecture;
mod backfill;
mod config;
mod daemon;
mod dedup;
mod docs;
mod encoding;
mod environment;
mod errors;
mod exactly_once;
mod extract;
mod feeds;
mod health;
mod help;
mod locations;
mod logs;
mod packaging;
mod pipeline;
mod polling;
mod postgres_tls;
mod retag;
mod secrets;
mod sinks;
mod support;
mod tag;
mod web;
