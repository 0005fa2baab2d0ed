//! The marker that starts a plan comment: the gate writes it, the executor reads which plans
//! were shown for a head, and the approved plan's text is read back only when it hashes to
//! the digest.

use sha2::{Digest, Sha256};

use crate::record::note::PlanDigest;
use crate::types::CommitSha;

/// The marker at the start of a plan comment.
pub(crate) const PLAN_MARKER: &str = "<!-- prgate:plan ";

/// What a plan comment's marker says: `<!-- prgate:plan executor=E head=H digest=D size=N -->`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PlanMarker {
    pub executor: String,
    pub head: String,
    pub plan: PlanDigest,
}

/// The plan marker at the start of a comment, when it has one that parses.
pub(crate) fn parse_plan_marker(body: &str) -> Option<PlanMarker> {
    let rest = body.trim_start().strip_prefix(PLAN_MARKER)?;
    let (fields, _) = rest.split_once("-->")?;
    let mut executor = None;
    let mut head = None;
    let mut digest = None;
    let mut size = None;
    for field in fields.split_whitespace() {
        match field.split_once('=')? {
            ("executor", v) => executor = Some(v.to_string()),
            ("head", v) => head = Some(v.to_string()),
            ("digest", v) if crate::record::note::is_plan_digest(v) => digest = Some(v.to_string()),
            ("size", v) => size = v.parse().ok(),
            _ => {}
        }
    }
    Some(PlanMarker {
        executor: executor?,
        head: head?,
        plan: PlanDigest {
            digest: digest?,
            size: size?,
        },
    })
}

/// The plan output fenced in a plan comment's `body`, when it is `plan`'s whole text: it
/// hashes to the digest and has its size. The comment's fence dropped the output's last line
/// break, so the text is tried with one and without.
pub(super) fn plan_text_in_comment(body: &str, plan: &PlanDigest) -> Option<String> {
    let mut lines = body.lines();
    let fence = lines
        .by_ref()
        .find(|l| l.len() >= 3 && l.bytes().all(|b| b == b'`'))?;
    let mut shown: Vec<&str> = Vec::new();
    for line in lines.by_ref() {
        if line == fence {
            let text = shown.join("\n");
            return [format!("{text}\n"), text].into_iter().find(|t| {
                PlanDigest::of_output(&hex::encode(Sha256::digest(t.as_bytes())), t.len() as u64)
                    == *plan
            });
        }
        shown.push(line);
    }
    None
}

/// The marker that starts a plan comment (see [`parse_plan_marker`]).
pub(crate) fn plan_marker(executor: &str, head: &CommitSha, plan: Option<&PlanDigest>) -> String {
    match plan {
        Some(p) => format!(
            "{PLAN_MARKER}executor={executor} head={head} digest={} size={} -->",
            p.digest, p.size
        ),
        None => format!("{PLAN_MARKER}executor={executor} head={head} failed -->"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_marker_round_trips_and_a_failed_plan_names_no_digest() {
        let head: CommitSha = "a".repeat(40).parse().unwrap();
        let plan = PlanDigest::of_output(&"3f".repeat(32), 120);
        let body = format!(
            "{}\n**Plan** …",
            plan_marker("firewall", &head, Some(&plan))
        );
        assert_eq!(
            parse_plan_marker(&body),
            Some(PlanMarker {
                executor: "firewall".into(),
                head: head.to_string(),
                plan
            })
        );
        assert_eq!(
            parse_plan_marker(&plan_marker("firewall", &head, None)),
            None
        );
        // A marker quoted later in a comment is not the comment's.
        assert_eq!(parse_plan_marker(&format!("see {body}")), None);
    }

    /// The plan comment as the gate renders it, for `output`.
    fn plan_comment(output: &str, folded: bool) -> (String, PlanDigest) {
        let head: CommitSha = "a".repeat(40).parse().unwrap();
        let sha = hex::encode(Sha256::digest(output.as_bytes()));
        let plan = PlanDigest::of_output(&sha, output.len() as u64);
        let context = serde_json::json!({
            "marker": plan_marker("firewall", &head, Some(&plan)),
            "executor": "firewall", "head": head.as_str(), "head_short": head.short(),
            "base": "b".repeat(40), "base_short": "bbbbbbb", "digest": plan.digest,
            "size": plan.size, "output": output, "truncated": false, "folded": folded,
            "lines": output.lines().count(), "failure": null,
        });
        let body = crate::render::Renderer::new(None)
            .render("comment_plan.md.j2", &context)
            .unwrap();
        (body, plan)
    }

    #[test]
    fn the_approved_plan_is_read_back_from_its_comment_only_when_it_hashes_to_the_digest() {
        for (output, folded) in [
            ("allow 22\nallow 443\n", false),
            ("no trailing line break", false),
            ("a fence inside:\n```\nnot the end\n```\n", false),
            (&"line\n".repeat(80), true),
        ] {
            let (body, plan) = plan_comment(output, folded);
            assert_eq!(
                plan_text_in_comment(&body, &plan).as_deref(),
                Some(output),
                "{body}"
            );
        }
        // An edited comment, or another plan's digest: not quoted as the approved plan.
        let (body, plan) = plan_comment("allow 22\n", false);
        let edited = body.replace("allow 22", "allow all");
        assert_eq!(plan_text_in_comment(&edited, &plan), None);
        let other = PlanDigest::of_output(&"3f".repeat(32), plan.size);
        assert_eq!(plan_text_in_comment(&body, &other), None);
    }
}
