//! The approval record prgate writes into a merge commit message as git trailers, and reads
//! back (for `verify` and `audit`). Pure text in, text out.

use chrono::{DateTime, SecondsFormat, Utc};

use crate::policy::Approval;
use crate::types::{CommitSha, PullRef};

/// What a merge commit's trailers say about its approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalTrailers {
    pub pull: PullRef,
    pub head: CommitSha,
    pub policy_blob: CommitSha,
    pub approvals: Vec<TrailerApproval>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrailerApproval {
    pub login: String,
    pub review_id: u64,
    pub submitted_at: Option<DateTime<Utc>>,
}

impl From<&Approval> for TrailerApproval {
    fn from(a: &Approval) -> Self {
        TrailerApproval {
            login: a.login.as_str().to_string(),
            review_id: a.review_id,
            submitted_at: a.submitted_at,
        }
    }
}

fn timestamp(t: &Option<DateTime<Utc>>) -> String {
    t.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_else(|| "unknown".into())
}

impl ApprovalTrailers {
    /// The trailer block, one `Key: value` per line, as DESIGN.md gives it.
    pub fn to_trailer_block(&self) -> String {
        let mut s = format!(
            "Prgate-Pull: {}\nPrgate-Head: {}\nPrgate-Policy: {}\n",
            self.pull, self.head, self.policy_blob
        );
        for a in &self.approvals {
            s.push_str(&format!(
                "Approved-by: {} <review {} at {}>\n",
                a.login,
                a.review_id,
                timestamp(&a.submitted_at)
            ));
        }
        s
    }

    /// Reads the trailers back from a commit message; `None` when it carries no prgate record.
    /// Only the last paragraph counts, as in git's own trailer rules, so that text quoted in
    /// a PR title or body cannot pose as a record.
    pub fn parse(message: &str) -> Option<ApprovalTrailers> {
        let last = message.trim_end().rsplit("\n\n").next()?;
        let mut pull = None;
        let mut head = None;
        let mut policy_blob = None;
        let mut approvals = Vec::new();
        for line in last.lines() {
            let (key, value) = line.split_once(": ")?;
            match key {
                "Prgate-Pull" => pull = Some(value.trim().parse().ok()?),
                "Prgate-Head" => head = Some(value.trim().parse().ok()?),
                "Prgate-Policy" => policy_blob = Some(value.trim().parse().ok()?),
                "Approved-by" => approvals.push(parse_approved_by(value)?),
                _ => {}
            }
        }
        Some(ApprovalTrailers {
            pull: pull?,
            head: head?,
            policy_blob: policy_blob?,
            approvals,
        })
    }
}

fn parse_approved_by(value: &str) -> Option<TrailerApproval> {
    let (login, rest) = value.split_once(" <review ")?;
    let rest = rest.strip_suffix('>')?;
    let (id, at) = rest.split_once(" at ")?;
    Some(TrailerApproval {
        login: login.trim().to_string(),
        review_id: id.parse().ok()?,
        submitted_at: DateTime::parse_from_rfc3339(at)
            .ok()
            .map(|t| t.with_timezone(&Utc)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ApprovalTrailers {
        ApprovalTrailers {
            pull: "acme/infra#42".parse().unwrap(),
            head: "a".repeat(40).parse().unwrap(),
            policy_blob: "b".repeat(40).parse().unwrap(),
            approvals: vec![TrailerApproval {
                login: "alice".into(),
                review_id: 123456,
                submitted_at: Some("2026-11-21T10:00:00Z".parse().unwrap()),
            }],
        }
    }

    #[test]
    fn trailers_have_the_designed_shape() {
        assert_eq!(
            sample().to_trailer_block(),
            format!(
                "Prgate-Pull: acme/infra#42\nPrgate-Head: {}\nPrgate-Policy: {}\nApproved-by: alice <review 123456 at 2026-11-21T10:00:00Z>\n",
                "a".repeat(40),
                "b".repeat(40)
            )
        );
    }

    #[test]
    fn trailers_round_trip_from_the_last_paragraph_only() {
        let msg = format!(
            "Merge pull request #42\n\nChange the firewall\n\n{}",
            sample().to_trailer_block()
        );
        assert_eq!(ApprovalTrailers::parse(&msg), Some(sample()));
        // Trailers quoted in the body, followed by another paragraph, are not a record.
        let quoted = format!("Title\n\n{}\nsome other text", sample().to_trailer_block());
        assert_eq!(ApprovalTrailers::parse(&quoted), None);
    }
}
