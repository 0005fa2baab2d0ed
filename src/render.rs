//! Text that people read (PR bodies, decision comments), rendered with minijinja from the
//! templates in `templates/`. The templates are built into the binary; an operator can
//! override any of them by putting a file of the same name in a directory of their own.

use std::path::PathBuf;

use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

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
];

#[derive(Debug, thiserror::Error)]
#[error("cannot render template {name}: {message}")]
pub struct RenderError {
    pub name: String,
    pub message: String,
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
        let err = |e: minijinja::Error| RenderError {
            name: name.to_string(),
            message: e.to_string(),
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

/// A duration as people write it in the policy: "72h", "90m", "30s", "2h30m".
pub fn short_duration(d: std::time::Duration) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn durations_read_as_written() {
        assert_eq!(short_duration(Duration::from_secs(72 * 3600)), "72h");
        assert_eq!(short_duration(Duration::from_secs(9000)), "2h30m");
        assert_eq!(short_duration(Duration::from_secs(30)), "30s");
    }
}
