//! tidings: a daemon that ingests live news.
//!
//! ```text
//!  fetch ──> extract ──> dedup ──> tag ──> sink ──> state
//!  (feeds,   (N workers,  (index:   (N       (batch,   (mark done
//!   files)    HTML->text)  seeds +   workers) write,    only after
//!                          records)           fsync)    every sink)
//! ```
//!
//! Each arrow is a bounded async-channel; [`pipeline`] wires the stages and
//! drains them on shutdown. Every stage has a pure core the CLI verbs call
//! directly ([`extract::extract`], [`dedup::Index::check`], [`tag::Tagger::tag`]). The record schema
//! lives in [`record`] only; configuration is parsed and validated once in
//! [`config`].

pub mod cli;
pub mod cluster;
pub mod config;
pub mod dedup;
pub mod extract;
pub mod fetch;
pub mod flow;
pub mod observe;
pub mod pgtls;
pub mod pipeline;
pub mod record;
pub mod redact;
pub mod retag;
pub mod seeds;
pub mod settings;
pub mod sink;
pub mod state;
pub mod story;
pub mod tag;
pub mod url;
pub mod web;
