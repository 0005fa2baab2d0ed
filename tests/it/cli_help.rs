//! Help that teaches: every argument of every command is described, each command's help ends
//! with an example, and `prgate --help` names the token variables and the exit codes.

use std::process::Command;

fn help(path: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_prgate"))
        .args(path)
        .arg("--help")
        .env_remove("PRGATE_API_URL")
        .env_remove("PRGATE_GATE_LOGIN")
        .output()
        .unwrap();
    assert!(out.status.success(), "{path:?} --help failed");
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// The subcommands a help text lists (without `help`).
fn subcommands(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        if line.starts_with("Commands:") {
            inside = true;
            continue;
        }
        if inside {
            if !line.starts_with("  ") {
                break;
            }
            // A name starts at the second column; wrapped descriptions are indented further.
            if let Some(name) = line
                .strip_prefix("  ")
                .and_then(|l| l.split_whitespace().next())
                && !line[2..].starts_with(' ')
                && name != "help"
            {
                out.push(name.to_string());
            }
        }
    }
    out
}

/// The arguments and options of a help text that have no description.
fn undocumented(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut missing = Vec::new();
    let mut inside = false;
    for (i, line) in lines.iter().enumerate() {
        if line.starts_with("Arguments:") || line.starts_with("Options:") {
            inside = true;
            continue;
        }
        if !line.starts_with(' ') {
            inside = false;
            continue;
        }
        let entry = line.trim_start();
        if !inside || !(entry.starts_with('-') || entry.starts_with('<') || entry.starts_with('['))
        {
            continue;
        }
        // The spec, then (after two spaces or more) its description; a description clap puts
        // on the next line is indented deeper and starts with neither '-' nor '<'.
        let rest = entry.split_once("  ").map(|(_, r)| r.trim()).unwrap_or("");
        let described_here = !rest.is_empty() && !rest.starts_with('[');
        let next = lines.get(i + 1).copied().unwrap_or("");
        let indent = |l: &str| l.len() - l.trim_start().len();
        let described_below = indent(next) > indent(line)
            && !next.trim_start().starts_with('-')
            && !next.trim_start().starts_with('[')
            && !next.trim().is_empty();
        if !described_here && !described_below {
            missing.push(entry.trim_end().to_string());
        }
    }
    missing
}

#[test]
fn every_argument_of_every_command_is_described_and_every_command_has_an_example() {
    let top = help(&[]);
    for needed in [
        "PRGATE_GITHUB_TOKEN",
        "GITHUB_TOKEN",
        "PRGATE_API_URL",
        "Exit codes",
        "Example",
    ] {
        assert!(
            top.contains(needed),
            "prgate --help does not mention {needed}:\n{top}"
        );
    }
    let mut queue: Vec<Vec<String>> = subcommands(&top).into_iter().map(|c| vec![c]).collect();
    assert!(queue.len() >= 12, "{queue:?}");
    let mut leaves = 0;
    while let Some(path) = queue.pop() {
        let args: Vec<&str> = path.iter().map(String::as_str).collect();
        let text = help(&args);
        let missing = undocumented(&text);
        assert!(
            missing.is_empty(),
            "prgate {}: undocumented {missing:?}\n{text}",
            path.join(" ")
        );
        let subs = subcommands(&text);
        if subs.is_empty() {
            leaves += 1;
            let tail: Vec<&str> = text
                .lines()
                .rev()
                .filter(|l| !l.trim().is_empty())
                .take(3)
                .collect();
            assert!(
                text.contains("\nExample")
                    && tail
                        .iter()
                        .any(|l| l.starts_with("  prgate") || l.contains("\"prgate\"")),
                "prgate {} --help does not end with an example:\n{text}",
                path.join(" ")
            );
        }
        for s in subs {
            let mut p = path.clone();
            p.push(s);
            queue.push(p);
        }
    }
    assert!(leaves >= 14, "{leaves} commands");
}

#[test]
fn the_checker_finds_an_undocumented_option() {
    let text = "Usage: x\n\nOptions:\n      --title <TITLE>  \n      --json           Print JSON\n  -h, --help           Print help\n";
    assert_eq!(undocumented(text), vec!["--title <TITLE>".to_string()]);
    let text = "Options:\n      --api-url <API_URL>  [env: PRGATE_API_URL=] [default: x]\n";
    assert_eq!(undocumented(text).len(), 1);
}
