//! The CLI explains itself: every verb and every argument of it has a
//! description in `--help` (and so in the man page made from the same
//! definition).

use clap::CommandFactory;

/// `path` of every argument under `cmd` (its verbs included) with no help text.
fn undescribed(cmd: &clap::Command, path: &str, found: &mut Vec<String>) {
    for arg in cmd.get_arguments() {
        let id = arg.get_id().as_str();
        // clap's own --help and --version describe themselves.
        if id == "help" || id == "version" {
            continue;
        }
        let described = arg
            .get_long_help()
            .or(arg.get_help())
            .is_some_and(|h| !h.to_string().trim().is_empty());
        if !described {
            found.push(format!("{path} {id}"));
        }
    }
    for sub in cmd.get_subcommands() {
        if sub
            .get_about()
            .is_none_or(|a| a.to_string().trim().is_empty())
        {
            found.push(format!("{path} {} (the verb)", sub.get_name()));
        }
        undescribed(sub, &format!("{path} {}", sub.get_name()), found);
    }
}

#[test]
fn every_argument_of_every_verb_has_a_description() {
    let mut found = Vec::new();
    undescribed(&tidings::cli::Cli::command(), "tidings", &mut found);
    assert!(found.is_empty(), "without a description: {found:#?}");
}
