//! `prgate verify --format vsa`: the verdict on one merge commit as a SLSA source
//! verification summary (<https://slsa.dev/spec/v1.0/verification_summary>), an in-toto
//! statement that policy engines already read. It asserts the verified property
//! `SLSA_SOURCE_TWO_PARTY_REVIEWED` (<https://slsa.dev/spec/draft/verified-properties>) exactly
//! when the record holds under a trusted key: the gate's signed record says a designated
//! human other than the author and the head branch's pushers approved that exact content.
//! Pure: the report, the repository's address and the time in; the statement out.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::{SignatureStatus, VerifyReport};

/// The predicate type of a SLSA verification summary, version 1.
pub const VSA_PREDICATE_TYPE: &str = "https://slsa.dev/verification_summary/v1";
/// Who verified: prgate's offline verifier.
pub const VSA_VERIFIER_ID: &str = "https://prgate.dev/verify";
/// The property asserted when the record holds.
pub const TWO_PARTY_REVIEWED: &str = "SLSA_SOURCE_TWO_PARTY_REVIEWED";

/// Whether the summary may say PASSED: the record holds, a trusted key verified the gate's
/// signature on it, and it names an approver.
pub fn passes(report: &VerifyReport) -> bool {
    report.holds
        && matches!(report.signature, SignatureStatus::Valid { .. })
        && !report.approvals.is_empty()
}

/// The summary statement for `report`. `resource_uri` is the repository (`git+https://…`),
/// `note_sha256` the digest of the note read (the input attestation), `now` the time verified.
pub fn summary(
    report: &VerifyReport,
    resource_uri: &str,
    note_sha256: Option<&str>,
    now: DateTime<Utc>,
) -> Value {
    let passed = passes(report);
    let mut predicate = json!({
        "verifier": { "id": VSA_VERIFIER_ID },
        "timeVerified": now.to_rfc3339_opts(SecondsFormat::Secs, true),
        "resourceUri": resource_uri,
        "verificationResult": if passed { "PASSED" } else { "FAILED" },
        "verifiedLevels": if passed { vec![TWO_PARTY_REVIEWED] } else { vec!["FAILED"] },
        "slsaVersion": "1.2",
    });
    // The policy the record was judged by: the repository's own, at the merge's first parent.
    predicate["policy"] = match &report.policy_blob {
        Some(blob) => json!({
            "uri": format!("{resource_uri}#.github/prgate.toml"),
            "digest": { "gitBlob": blob.as_str() },
        }),
        None => json!({ "uri": format!("{resource_uri}#.github/prgate.toml") }),
    };
    if let Some(d) = note_sha256 {
        predicate["inputAttestations"] = json!([{
            "uri": format!("{resource_uri}#refs/notes/prgate"),
            "digest": { "sha256": d },
        }]);
    }
    json!({
        "_type": super::super::record::statement::STATEMENT_TYPE,
        "subject": [{ "digest": { "gitCommit": report.commit.as_str() } }],
        "predicateType": VSA_PREDICATE_TYPE,
        "predicate": predicate,
    })
}

/// The repository's address for `resourceUri`: the clone's `origin` when it is an http(s)
/// URL (without credentials or `.git`), else GitHub's address of the recorded repository.
pub fn resource_uri(origin: Option<&str>, recorded_repo: Option<&str>) -> String {
    if let Some(url) = origin
        && let Some((scheme, rest)) = url.split_once("://")
        && (scheme == "https" || scheme == "http")
    {
        // A clone URL may carry a token as user info: never repeat it.
        let host_and_path = match rest.split_once('/') {
            Some((authority, path)) => {
                let host = authority.rsplit('@').next().unwrap_or(authority);
                format!("{host}/{path}")
            }
            None => rest.rsplit('@').next().unwrap_or(rest).to_string(),
        };
        let trimmed = host_and_path.trim_end_matches('/').trim_end_matches(".git");
        return format!("git+{scheme}://{trimmed}");
    }
    match recorded_repo {
        Some(r) => format!("git+https://github.com/{r}"),
        None => "git+https://github.com/unknown/unknown".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(holds: bool, signature: SignatureStatus) -> VerifyReport {
        VerifyReport {
            commit: "3".repeat(40).parse().unwrap(),
            holds,
            pull: Some("acme/infra#42".into()),
            head: Some("2".repeat(40).parse().unwrap()),
            policy_blob: Some("4".repeat(40).parse().unwrap()),
            record: None,
            record_version: Some(2),
            merge_kind: None,
            approvals: vec!["alice".into()],
            execution: None,
            signature,
            problems: vec![],
        }
    }

    #[test]
    fn only_a_holding_record_under_a_trusted_key_passes() {
        let valid = SignatureStatus::Valid { key: "k".into() };
        let now = "2026-11-30T12:00:00Z".parse().unwrap();
        let v = summary(
            &report(true, valid.clone()),
            "git+https://github.com/acme/infra",
            Some("ab"),
            now,
        );
        assert_eq!(v["predicate"]["verificationResult"], "PASSED");
        assert_eq!(v["predicate"]["verifiedLevels"][0], TWO_PARTY_REVIEWED);
        assert_eq!(v["subject"][0]["digest"]["gitCommit"], "3".repeat(40));
        assert_eq!(
            v["predicate"]["inputAttestations"][0]["digest"]["sha256"],
            "ab"
        );
        for r in [
            report(false, valid),
            report(true, SignatureStatus::NotChecked { key: "k".into() }),
            report(true, SignatureStatus::Unsigned),
        ] {
            let v = summary(&r, "x", None, now);
            assert_eq!(v["predicate"]["verificationResult"], "FAILED");
            assert_eq!(v["predicate"]["verifiedLevels"][0], "FAILED");
        }
    }

    #[test]
    fn the_resource_uri_never_carries_credentials() {
        assert_eq!(
            resource_uri(
                Some("https://x-access-token:secret@github.com/acme/infra.git"),
                None
            ),
            "git+https://github.com/acme/infra"
        );
        assert_eq!(
            resource_uri(
                Some("http://127.0.0.1:9/acme/infra.git"),
                Some("acme/infra")
            ),
            "git+http://127.0.0.1:9/acme/infra"
        );
        assert_eq!(
            resource_uri(Some("/srv/git/infra"), Some("acme/infra")),
            "git+https://github.com/acme/infra"
        );
    }
}
