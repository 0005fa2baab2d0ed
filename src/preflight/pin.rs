//! Whether GitHub lets only prgate satisfy the required `prgate/approval`. A required check not
//! pinned to an app is satisfied by any check run or status with its name, for example a
//! GitHub Actions job that an agent adds to its own PR (DESIGN "Check runs and statuses from
//! others"). Pure: the reads are the caller's.

use super::Finding;
use crate::APPROVAL_CONTEXT;
use crate::github::models::{ApiBranchRule, ApiProtection};

/// What a branch's protection said, as read.
pub enum ProtectionRead {
    Protected(ApiProtection),
    NotProtected,
    /// prgate may not read it (404 to a non-admin, 403 to an App without "Administration:
    /// read"): the message says why.
    Unreadable(String),
}

/// Who may satisfy the required check: any source, or one app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Any,
    App(i64),
}

/// The findings for `prgate/approval` on one branch. `app_id`: prgate's own GitHub App, `None`
/// when it runs with a token (a token's user can never be a pinned source).
pub fn judge(
    subject: &str,
    branch: &str,
    app_id: Option<u64>,
    protection: &ProtectionRead,
    rules: &[ApiBranchRule],
) -> Vec<Finding> {
    let mut sources = Vec::new();
    if let ProtectionRead::Protected(p) = protection
        && let Some(req) = &p.required_status_checks
    {
        let pinned: Vec<_> = req
            .checks
            .iter()
            .filter(|c| c.context == APPROVAL_CONTEXT)
            .collect();
        if pinned.is_empty() && req.contexts.iter().any(|c| c == APPROVAL_CONTEXT) {
            sources.push(Source::Any);
        }
        for c in pinned {
            sources.push(match c.app_id {
                Some(id) if id > 0 => Source::App(id),
                _ => Source::Any,
            });
        }
    }
    for rule in rules.iter().filter(|r| r.kind == "required_status_checks") {
        let checks = rule
            .parameters
            .as_ref()
            .and_then(|p| p.get("required_status_checks"))
            .and_then(|c| c.as_array())
            .cloned()
            .unwrap_or_default();
        for c in checks {
            if c.get("context").and_then(|v| v.as_str()) != Some(APPROVAL_CONTEXT) {
                continue;
            }
            sources.push(match c.get("integration_id").and_then(|v| v.as_i64()) {
                Some(id) if id > 0 => Source::App(id),
                _ => Source::Any,
            });
        }
    }
    let fix = match app_id {
        Some(id) => {
            format!("set its source to prgate's app (id {id}) in the branch protection or ruleset")
        }
        None => "run prgate as a GitHub App and pin the check to it".to_string(),
    };
    if sources.is_empty() {
        return match protection {
            ProtectionRead::Unreadable(why) => vec![Finding::warning(
                subject,
                format!(
                    "cannot read the protection of {branch} ({why}); check by hand that {APPROVAL_CONTEXT} is a required check there, pinned to prgate's app"
                ),
            )],
            _ => vec![Finding::error(
                subject,
                format!(
                    "{APPROVAL_CONTEXT} is not a required check on {branch}: nothing stops a merge without approval; require it in the branch protection or a ruleset, and {fix}"
                ),
            )],
        };
    }
    let mut out = Vec::new();
    if sources.contains(&Source::Any) {
        let message = format!(
            "{APPROVAL_CONTEXT} is required on {branch} but not pinned to an app: any check run or status with that name satisfies it (a GitHub Actions job an agent adds to its own PR, say); {fix}"
        );
        out.push(match app_id {
            Some(_) => Finding::error(subject, message),
            // With a token there is nothing to pin to: prgate overwrites others' statuses, but
            // the safe set-up is an App.
            None => Finding::warning(subject, message),
        });
    }
    for other in sources.iter().filter_map(|s| match s {
        Source::App(id) if Some(*id) != app_id.and_then(|a| i64::try_from(a).ok()) => Some(*id),
        _ => None,
    }) {
        out.push(Finding::error(
            subject,
            match app_id {
                Some(me) => format!(
                    "{APPROVAL_CONTEXT} on {branch} is pinned to app {other}, not prgate's app (id {me}): that app decides, not prgate; pin it to {me}"
                ),
                None => format!(
                    "{APPROVAL_CONTEXT} on {branch} is pinned to app {other}, but prgate posts with a token: its statuses never satisfy the check, and that app decides; {fix}"
                ),
            },
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::github::models::{ApiRequiredCheck, ApiRequiredChecks};

    fn protected(contexts: &[&str], checks: &[(&str, Option<i64>)]) -> ProtectionRead {
        ProtectionRead::Protected(ApiProtection {
            required_status_checks: Some(ApiRequiredChecks {
                contexts: contexts.iter().map(|c| c.to_string()).collect(),
                checks: checks
                    .iter()
                    .map(|(c, a)| ApiRequiredCheck {
                        context: c.to_string(),
                        app_id: *a,
                    })
                    .collect(),
            }),
        })
    }

    fn rule(context: &str, integration: Option<i64>) -> ApiBranchRule {
        ApiBranchRule {
            kind: "required_status_checks".into(),
            parameters: Some(serde_json::json!({
                "required_status_checks": [{"context": context, "integration_id": integration}]
            })),
        }
    }

    fn errors(f: &[Finding]) -> Vec<&str> {
        f.iter()
            .filter(|f| f.error)
            .map(|f| f.message.as_str())
            .collect()
    }

    #[test]
    fn pinned_to_prgates_app_is_clean_and_anything_else_is_named() {
        let ok = protected(&["prgate/approval"], &[("prgate/approval", Some(7))]);
        assert!(judge("r", "main", Some(7), &ok, &[]).is_empty());
        // Unpinned (null or -1): an error for an App.
        for unpinned in [None, Some(-1)] {
            let p = protected(&["prgate/approval"], &[("prgate/approval", unpinned)]);
            let f = judge("r", "main", Some(7), &p, &[]);
            assert!(errors(&f)[0].contains("not pinned to an app"), "{f:?}");
        }
        // Pinned to another app.
        let other = protected(&["prgate/approval"], &[("prgate/approval", Some(9))]);
        let f = judge("r", "main", Some(7), &other, &[]);
        assert!(
            errors(&f)[0].contains("pinned to app 9, not prgate's app (id 7)"),
            "{f:?}"
        );
        // A ruleset that requires it unpinned, beside a pinned protection.
        let f = judge("r", "main", Some(7), &ok, &[rule("prgate/approval", None)]);
        assert!(errors(&f)[0].contains("not pinned"), "{f:?}");
        let f = judge(
            "r",
            "main",
            Some(7),
            &ProtectionRead::NotProtected,
            &[rule("prgate/approval", Some(7))],
        );
        assert!(f.is_empty(), "{f:?}");
    }

    #[test]
    fn not_required_is_an_error_and_unreadable_a_warning() {
        let f = judge("r", "main", Some(7), &ProtectionRead::NotProtected, &[]);
        assert!(
            errors(&f)[0].contains("is not a required check on main"),
            "{f:?}"
        );
        let other = protected(&["ci"], &[("ci", None)]);
        assert_eq!(errors(&judge("r", "main", None, &other, &[])).len(), 1);
        let f = judge(
            "r",
            "main",
            None,
            &ProtectionRead::Unreadable("404".into()),
            &[],
        );
        assert!(
            errors(&f).is_empty() && f[0].message.contains("cannot read the protection"),
            "{f:?}"
        );
    }

    #[test]
    fn with_a_token_an_unpinned_check_is_a_warning_and_a_pin_to_an_app_an_error() {
        let p = protected(&["prgate/approval"], &[]);
        let f = judge("r", "main", None, &p, &[]);
        assert!(
            errors(&f).is_empty() && f[0].message.contains("run prgate as a GitHub App"),
            "{f:?}"
        );
        let pinned = protected(&["prgate/approval"], &[("prgate/approval", Some(7))]);
        let f = judge("r", "main", None, &pinned, &[]);
        assert!(errors(&f)[0].contains("prgate posts with a token"), "{f:?}");
    }
}
