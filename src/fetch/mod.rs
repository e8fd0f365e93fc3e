//! The source stage: where documents come from. `local` reads files, folders,
//! feed files and standard input for backfill and the one-document verbs.

pub mod local;
