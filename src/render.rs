//! Text that people read (PR bodies, decision comments, the admin pages), rendered with
//! minijinja from the templates in `templates/`. The templates are built into the binary; an operator can
//! override any of them by putting a file of the same name in a directory of their own.
//! Text from outside prgate goes through the filters `fence`, `quote` and `oneline`, which
//! keep it inert: it cannot close prgate's code block or quote, nor start a block of its own.
//! Templates named `*.html.j2` are HTML-escaped automatically: pages never escape by hand.

use std::path::PathBuf;

use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

/// "1 commit", "2 commits": a count with its noun in the right number (English plural in -s).
pub fn plural(n: impl Into<u64>, noun: &str) -> String {
    match n.into() {
        1 => format!("1 {noun}"),
        n => format!("{n} {noun}s"),
    }
}

/// The templates shipped with prgate, by name.
const BUILTIN: &[(&str, &str)] = &[
    ("pr_body.md.j2", include_str!("../templates/pr_body.md.j2")),
    (
        "comment_approved.md.j2",
        include_str!("../templates/comment_approved.md.j2"),
    ),
    (
        "comment_denied.md.j2",
        include_str!("../templates/comment_denied.md.j2"),
    ),
    (
        "comment_expired.md.j2",
        include_str!("../templates/comment_expired.md.j2"),
    ),
    (
        "comment_policy.md.j2",
        include_str!("../templates/comment_policy.md.j2"),
    ),
    (
        "comment_executed.md.j2",
        include_str!("../templates/comment_executed.md.j2"),
    ),
    (
        "comment_plan.md.j2",
        include_str!("../templates/comment_plan.md.j2"),
    ),
    (
        "comment_refused.md.j2",
        include_str!("../templates/comment_refused.md.j2"),
    ),
    (
        "check_run.md.j2",
        include_str!("../templates/check_run.md.j2"),
    ),
    (
        "layout.html.j2",
        include_str!("../templates/layout.html.j2"),
    ),
    (
        "dashboard.html.j2",
        include_str!("../templates/dashboard.html.j2"),
    ),
    ("pull.html.j2", include_str!("../templates/pull.html.j2")),
    ("login.html.j2", include_str!("../templates/login.html.j2")),
    ("audit.html.j2", include_str!("../templates/audit.html.j2")),
];

#[derive(Debug, thiserror::Error)]
#[error("cannot render template {name}: {}", crate::error_chain::chain(.source))]
pub struct RenderError {
    pub name: String,
    #[source]
    pub source: minijinja::Error,
}

/// Renders templates, preferring the operator's copies in `override_dir`.
pub struct Renderer {
    env: Environment<'static>,
}

impl Renderer {
    pub fn new(override_dir: Option<PathBuf>) -> Self {
        let mut env = Environment::new();
        // A misspelt variable must fail loudly, not render as an empty string.
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_keep_trailing_newline(true);
        // Said here rather than left to minijinja's default: an operator's page template is
        // escaped whatever else changes.
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".html.j2") || name.ends_with(".html") {
                minijinja::AutoEscape::Html
            } else {
                minijinja::AutoEscape::None
            }
        });
        env.add_filter("fence", |text: &str| fence(text));
        env.add_filter("quote", |text: &str| quote(text));
        env.add_filter("oneline", |text: &str| oneline(text));
        env.set_loader(move |name| {
            if let Some(dir) = &override_dir {
                // Only plain file names: a template name never walks out of the directory.
                if !name.contains('/') && !name.contains('\\') && !name.starts_with('.') {
                    match std::fs::read_to_string(dir.join(name)) {
                        Ok(text) => return Ok(Some(text)),
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => {
                            return Err(minijinja::Error::new(
                                minijinja::ErrorKind::InvalidOperation,
                                format!("cannot read {}: {e}", dir.join(name).display()),
                            ));
                        }
                    }
                }
            }
            Ok(BUILTIN
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, t)| t.to_string()))
        });
        Renderer { env }
    }

    pub fn render<C: Serialize>(&self, name: &str, context: &C) -> Result<String, RenderError> {
        let err = |source: minijinja::Error| RenderError {
            name: name.to_string(),
            source,
        };
        let template = self.env.get_template(name).map_err(err)?;
        template.render(context).map_err(err)
    }
}

impl Default for Renderer {
    fn default() -> Self {
        Renderer::new(None)
    }
}

/// Line endings as Markdown should see them: `\r\n` and a bare `\r` (which GitHub renders as
/// a line break, so that it could end a quote or a fence) become `\n`.
pub(crate) fn normalize_newlines(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\r', "\n")
}

/// `text` as a fenced code block whose fence is longer than any run of backticks in it (and
/// at least three), so that nothing in it can close the block early: what follows a fence in
/// the text stays code, never a banner, mention or image of prgate's.
pub fn fence(text: &str) -> String {
    let text = normalize_newlines(text);
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let bar = "`".repeat((longest + 1).max(3));
    format!("{bar}\n{}\n{bar}", text.trim_end_matches('\n'))
}

/// `text` as a Markdown blockquote, every line of it quoted, whatever its line endings.
pub fn quote(text: &str) -> String {
    let text = normalize_newlines(text);
    text.trim()
        .lines()
        .map(|l| {
            if l.is_empty() {
                ">".to_string()
            } else {
                format!("> {l}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `text` on one line (line breaks become spaces), for a value inside a sentence: it cannot
/// start a heading, list, fence or quote of its own.
pub(crate) fn oneline(text: &str) -> String {
    normalize_newlines(text)
        .split('\n')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A duration as people write it in the policy: "72h", "90m", "30s", "2h30m".
pub(crate) fn short_duration(d: std::time::Duration) -> String {
    let secs = d.as_secs();
    if secs == 0 {
        return "0s".into();
    }
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 {
        out.push_str(&format!("{s}s"));
    }
    out
}

/// Cuts `s` to at most `max` characters, marking the cut with an ellipsis.
pub(crate) fn truncate_chars(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_fence_is_longer_than_any_backtick_run_inside() {
        assert_eq!(fence("plain"), "```\nplain\n```");
        assert_eq!(fence("a ``` b\n"), "````\na ``` b\n````");
        assert_eq!(fence("`````"), "``````\n`````\n``````");
        assert_eq!(fence("x\r\ny\rz"), "```\nx\ny\nz\n```");
    }

    #[test]
    fn a_quote_quotes_every_line_whatever_its_ending() {
        assert_eq!(quote("a\rb\r\nc\n\nd"), "> a\n> b\n> c\n>\n> d");
        assert_eq!(oneline(" a\r# b\n\n> c "), "a # b > c");
    }

    #[test]
    fn durations_read_as_written() {
        assert_eq!(short_duration(Duration::from_secs(72 * 3600)), "72h");
        assert_eq!(short_duration(Duration::from_secs(9000)), "2h30m");
        assert_eq!(short_duration(Duration::from_secs(30)), "30s");
    }
}
