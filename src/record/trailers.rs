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
    /// The plan the approval bound (`Prgate-Plan: sha256:<hex>`), when the executor has one.
    pub plan: Option<String>,
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
        if let Some(plan) = &self.plan {
            s.push_str(&format!("Prgate-Plan: {plan}\n"));
        }
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

    /// Reads the trailers back from a commit message; `None` when it carries no prgate record
    /// or a malformed one (see [`ApprovalTrailers::read`] for why it is malformed).
    pub fn parse(message: &str) -> Option<ApprovalTrailers> {
        Self::read(message).ok().flatten()
    }

    /// Reads the trailers back from a commit message: `Ok(None)` when its last paragraph holds
    /// no prgate trailer, an error when it holds a record that does not say one thing.
    ///
    /// Only the last paragraph counts, as in git's own trailer rules, so that text quoted in a
    /// PR title or body cannot pose as a record. Keys are recognised as git recognises them
    /// (`git log --format=%(trailers:key=...)` ignores case and allows `Key:value`), so that a
    /// record cannot read one way to prgate and another way to git: each of `Prgate-Pull`,
    /// `Prgate-Head` and `Prgate-Policy` must appear exactly once, no review or approver twice,
    /// and none of them may be folded onto a following line.
    pub fn read(message: &str) -> Result<Option<ApprovalTrailers>, TrailerError> {
        let Some(last) = message.trim_end().rsplit("\n\n").next() else {
            return Ok(None);
        };
        let mut pull = None;
        let mut head = None;
        let mut policy_blob = None;
        let mut plan: Option<String> = None;
        let mut approvals: Vec<TrailerApproval> = Vec::new();
        let mut ours = false;
        let mut not_a_trailer: Option<String> = None;
        let lines: Vec<&str> = last.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if line.starts_with([' ', '\t']) {
                // A continuation: judged with the line it continues, below.
                continue;
            }
            let Some((token, value)) = split_trailer(line) else {
                not_a_trailer.get_or_insert_with(|| line.to_string());
                continue;
            };
            let Some(key) = Key::of(token) else {
                continue;
            };
            // git folds an indented next line into this trailer's value.
            if lines
                .get(i + 1)
                .is_some_and(|next| next.starts_with([' ', '\t']))
            {
                return Err(TrailerError::Folded { key: key.name() });
            }
            ours = true;
            let invalid = || TrailerError::Invalid {
                key: key.name(),
                value: value.to_string(),
            };
            let once = |slot: bool| {
                if slot {
                    Err(TrailerError::Duplicate { key: key.name() })
                } else {
                    Ok(())
                }
            };
            match key {
                Key::Pull => {
                    once(pull.is_some())?;
                    pull = Some(value.parse().map_err(|_| invalid())?);
                }
                Key::Head => {
                    once(head.is_some())?;
                    head = Some(value.parse().map_err(|_| invalid())?);
                }
                Key::Policy => {
                    once(policy_blob.is_some())?;
                    policy_blob = Some(value.parse().map_err(|_| invalid())?);
                }
                Key::Plan => {
                    once(plan.is_some())?;
                    if !super::note::is_plan_digest(value) {
                        return Err(invalid());
                    }
                    plan = Some(value.to_string());
                }
                Key::ApprovedBy => {
                    let a = parse_approved_by(value).ok_or_else(invalid)?;
                    if approvals.iter().any(|b| b.review_id == a.review_id) {
                        return Err(TrailerError::DuplicateReview {
                            review_id: a.review_id,
                        });
                    }
                    if approvals
                        .iter()
                        .any(|b| b.login.eq_ignore_ascii_case(&a.login))
                    {
                        return Err(TrailerError::DuplicateApprover { login: a.login });
                    }
                    approvals.push(a);
                }
            }
        }
        if !ours {
            return Ok(None);
        }
        if let Some(line) = not_a_trailer {
            return Err(TrailerError::NotATrailer { line });
        }
        let missing = |key: Key| TrailerError::Missing { key: key.name() };
        Ok(Some(ApprovalTrailers {
            pull: pull.ok_or_else(|| missing(Key::Pull))?,
            head: head.ok_or_else(|| missing(Key::Head))?,
            policy_blob: policy_blob.ok_or_else(|| missing(Key::Policy))?,
            plan,
            approvals,
        }))
    }
}

/// Why a commit message's prgate trailers are not a record. Each says which key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrailerError {
    #[error(
        "the trailer {key} appears more than once; git's trailer parser reports every one, so the record would say two things"
    )]
    Duplicate { key: &'static str },
    #[error(
        "two Approved-by trailers name review {review_id}; the record would count one approval twice"
    )]
    DuplicateReview { review_id: u64 },
    #[error("two Approved-by trailers name {login}; prgate records one approval per approver")]
    DuplicateApprover { login: String },
    #[error("the trailer {key} is folded onto the next line, which git reads as part of it")]
    Folded { key: &'static str },
    #[error("the trailers do not parse: {key} {value:?} is not well-formed")]
    Invalid { key: &'static str, value: String },
    #[error("the trailers do not parse: {key} is missing")]
    Missing { key: &'static str },
    #[error("the trailers do not parse: the line {line:?} among them is not a trailer")]
    NotATrailer { line: String },
}

/// The trailer keys of a prgate record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Pull,
    Head,
    Policy,
    Plan,
    ApprovedBy,
}

impl Key {
    const ALL: [Key; 5] = [
        Key::Pull,
        Key::Head,
        Key::Policy,
        Key::Plan,
        Key::ApprovedBy,
    ];

    fn name(self) -> &'static str {
        match self {
            Key::Pull => "Prgate-Pull",
            Key::Head => "Prgate-Head",
            Key::Policy => "Prgate-Policy",
            Key::Plan => "Prgate-Plan",
            Key::ApprovedBy => "Approved-by",
        }
    }

    /// The key a trailer token names, compared as git compares keys (without case).
    fn of(token: &str) -> Option<Key> {
        Key::ALL
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(token))
    }
}

/// `(key, value)` of a trailer line as git splits it: a token of letters, digits and `-`,
/// optional blanks, `:`, then the value (trimmed). `None` for a line that is not a trailer.
fn split_trailer(line: &str) -> Option<(&str, &str)> {
    let (token, value) = line.split_once(':')?;
    let token = token.trim_end();
    if token.is_empty() || !token.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return None;
    }
    Some((token, value.trim()))
}

fn parse_approved_by(value: &str) -> Option<TrailerApproval> {
    let (login, rest) = value.split_once(" <review ")?;
    let rest = rest.strip_suffix('>')?;
    let (id, at) = rest.split_once(" at ")?;
    // prgate writes GitHub's whole-second UTC times ("2026-11-21T10:00:00Z"), or "unknown".
    // Any other spelling (a fraction, an offset, a time that does not parse) is not a record
    // prgate wrote, and would not print back the same: the trailer is invalid.
    let submitted_at = if at == "unknown" {
        None
    } else {
        let t = DateTime::parse_from_rfc3339(at).ok()?.with_timezone(&Utc);
        if timestamp(&Some(t)) != at {
            return None;
        }
        Some(t)
    };
    Some(TrailerApproval {
        login: login.trim().to_string(),
        review_id: id.parse().ok()?,
        submitted_at,
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
            plan: None,
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

    /// A record must say each thing once, also when the second saying is spelt the way git
    /// still reads as the same key (other case, no blank, blank before the colon).
    #[test]
    fn duplicate_keys_make_the_record_malformed_naming_the_key() {
        let block = sample().to_trailer_block();
        let other = "c".repeat(40);
        for (extra, key) in [
            (format!("Prgate-Head: {other}"), "Prgate-Head"),
            (format!("prgate-head:{other}"), "Prgate-Head"),
            (format!("PRGATE-HEAD : {other}"), "Prgate-Head"),
            ("Prgate-Pull: acme/infra#43".to_string(), "Prgate-Pull"),
            (format!("Prgate-Policy: {other}"), "Prgate-Policy"),
        ] {
            let msg = format!("Merge\n\n{block}{extra}\n");
            let e = ApprovalTrailers::read(&msg).expect_err(&extra);
            assert_eq!(e, TrailerError::Duplicate { key }, "{extra}");
            assert!(e.to_string().contains(key), "{e}");
            assert_eq!(ApprovalTrailers::parse(&msg), None);
        }
        // The same review twice, or the same approver under two reviews.
        let msg =
            format!("M\n\n{block}Approved-by: mallory <review 123456 at 2026-11-21T10:00:00Z>\n");
        assert_eq!(
            ApprovalTrailers::read(&msg),
            Err(TrailerError::DuplicateReview { review_id: 123456 })
        );
        let msg = format!("M\n\n{block}Approved-by: Alice <review 9 at 2026-11-21T10:00:00Z>\n");
        assert_eq!(
            ApprovalTrailers::read(&msg),
            Err(TrailerError::DuplicateApprover {
                login: "Alice".into()
            })
        );
    }

    #[test]
    fn folded_or_mixed_trailers_are_malformed_and_no_trailers_are_no_record() {
        let block = sample().to_trailer_block();
        let folded = format!("M\n\n{block}").replacen("Prgate-Policy: ", "Prgate-Policy:\n ", 1);
        assert_eq!(
            ApprovalTrailers::read(&folded),
            Err(TrailerError::Folded {
                key: "Prgate-Policy"
            })
        );
        let missing = format!(
            "M\n\nPrgate-Pull: acme/infra#42\nPrgate-Head: {}\n",
            "a".repeat(40)
        );
        assert_eq!(
            ApprovalTrailers::read(&missing),
            Err(TrailerError::Missing {
                key: "Prgate-Policy"
            })
        );
        assert_eq!(ApprovalTrailers::read("Title\n\nJust words.\n"), Ok(None));
        assert_eq!(
            ApprovalTrailers::read("Title\n\nSigned-off-by: a <a@b>\n"),
            Ok(None)
        );
        // Other trailers beside prgate's are fine.
        let with_other = format!("M\n\n{block}Co-authored-by: x <x@y>\n");
        assert_eq!(ApprovalTrailers::read(&with_other), Ok(Some(sample())));
    }

    #[test]
    fn a_plan_digest_is_one_trailer_that_must_be_well_formed() {
        let mut with_plan = sample();
        with_plan.plan = Some(format!("sha256:{}", "3f".repeat(32)));
        let block = with_plan.to_trailer_block();
        assert!(
            block.contains(&format!("\nPrgate-Plan: sha256:{}\n", "3f".repeat(32))),
            "{block}"
        );
        assert_eq!(
            ApprovalTrailers::parse(&format!("M\n\n{block}")),
            Some(with_plan)
        );
        let twice = format!("M\n\n{block}prgate-plan: sha256:{}\n", "00".repeat(32));
        assert_eq!(
            ApprovalTrailers::read(&twice),
            Err(TrailerError::Duplicate { key: "Prgate-Plan" })
        );
        for bad in ["sha256:xyz", "3f2a9c", &format!("sha1:{}", "ab".repeat(20))] {
            let msg = format!("M\n\n{}Prgate-Plan: {bad}\n", sample().to_trailer_block());
            assert!(
                matches!(
                    ApprovalTrailers::read(&msg),
                    Err(TrailerError::Invalid {
                        key: "Prgate-Plan",
                        ..
                    })
                ),
                "{bad}"
            );
        }
    }

    /// Found by the `trailers` fuzz target: a time with a fraction parsed, then printed back
    /// without it, so the record read and the record written differed. Such a time is not
    /// prgate's spelling and makes the trailer invalid; so does one that does not parse.
    #[test]
    fn an_approval_time_in_another_spelling_is_invalid() {
        let head = "c".repeat(40);
        let policy = "d".repeat(40);
        for at in [
            "2026-11-21T10:00:00.10Z",
            "2026-11-21T11:00:00+01:00",
            "yesterday",
        ] {
            let msg = format!(
                "Title\n\nPrgate-Pull: acme/infra#7\nPrgate-Head: {head}\nPrgate-Policy: {policy}\nApproved-by: alice <review 2 at {at}>\n"
            );
            assert!(
                matches!(
                    ApprovalTrailers::read(&msg),
                    Err(TrailerError::Invalid {
                        key: "Approved-by",
                        ..
                    })
                ),
                "{at}: {:?}",
                ApprovalTrailers::read(&msg)
            );
        }
        let unknown = format!(
            "Title\n\nPrgate-Pull: acme/infra#7\nPrgate-Head: {head}\nPrgate-Policy: {policy}\nApproved-by: alice <review 2 at unknown>\n"
        );
        let t = ApprovalTrailers::read(&unknown).unwrap().unwrap();
        assert_eq!(t.approvals[0].submitted_at, None);
        assert_eq!(
            ApprovalTrailers::parse(&format!("x\n\n{}", t.to_trailer_block())),
            Some(t)
        );
    }
}
