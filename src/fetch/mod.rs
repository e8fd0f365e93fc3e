//! The source stage: where documents come from. `feeds` polls feeds and
//! fetches their pages through `http`, the one choke point for remote bytes;
//! `local` reads files, folders, feed files and standard input; `opml`
//! reads and writes feed lists; `share` is how a process of a cluster
//! shares hosts with the others.

pub mod feeds;
pub mod health;
pub mod http;
pub mod local;
pub mod opml;
pub mod parse;
pub mod share;
