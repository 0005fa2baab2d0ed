//! Decoding a delivery body into our own [`Event`], reading only the fields prgate uses,
//! tolerantly: a payload that lacks a field we need is one GitHub plausibly sends in another
//! shape (org-level hooks, new variants), so it is ignored rather than refused; wrong JSON
//! types are refused.

use crate::types::{CommitSha, Login, PullNumber, RepoName};

use super::event::{
    CheckRunEvent, Event, EventAccount, MergeGroupEvent, PullRequestEvent, PushEvent, ReviewEvent,
    StatusEvent,
};

/// A delivery body that is not the JSON GitHub sends. Answered 400.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("the {event} payload is not valid JSON of the expected shape: {source}")]
    Json {
        event: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("the {event} payload has an invalid {field}: {message}")]
    Field {
        event: String,
        field: &'static str,
        message: String,
    },
}

/// The all-zero SHA GitHub sends as `before` of a created ref or `after` of a deleted one.
const NULL_SHA: &str = "0000000000000000000000000000000000000000";

// Only the fields prgate uses. Everything is optional here: a payload that lacks a field we
// need is one GitHub plausibly sends in another shape (org-level hooks, new variants), so it is
// ignored rather than refused; wrong JSON types are refused.
mod wire {
    use serde::Deserialize;

    #[derive(Deserialize)]
    pub struct Repository {
        pub full_name: Option<String>,
    }
    #[derive(Deserialize)]
    pub struct Account {
        pub login: Option<String>,
        #[serde(default)]
        pub id: Option<u64>,
        #[serde(rename = "type", default)]
        pub kind: Option<String>,
    }
    #[derive(Deserialize)]
    pub struct Head {
        pub sha: Option<String>,
    }
    #[derive(Deserialize)]
    pub struct Base {
        #[serde(rename = "ref")]
        pub git_ref: Option<String>,
    }
    #[derive(Deserialize)]
    pub(crate) struct PullRequestBody {
        pub number: Option<u64>,
        pub head: Option<Head>,
        pub base: Option<Base>,
    }
    #[derive(Deserialize)]
    pub struct PullRequest {
        pub action: Option<String>,
        pub number: Option<u64>,
        pub pull_request: Option<PullRequestBody>,
        pub repository: Option<Repository>,
    }
    #[derive(Deserialize)]
    pub struct PullRequestReview {
        pub action: Option<String>,
        pub pull_request: Option<PullRequestBody>,
        pub repository: Option<Repository>,
    }
    #[derive(Deserialize)]
    pub(crate) struct Push {
        #[serde(rename = "ref")]
        pub git_ref: Option<String>,
        pub before: Option<String>,
        pub after: Option<String>,
        #[serde(default)]
        pub forced: Option<bool>,
        pub repository: Option<Repository>,
        #[serde(default)]
        pub sender: Option<Account>,
        #[serde(default)]
        pub commits: Option<Vec<PushCommit>>,
    }
    #[derive(Deserialize)]
    pub(crate) struct PushCommit {
        #[serde(default)]
        pub added: Vec<String>,
        #[serde(default)]
        pub removed: Vec<String>,
        #[serde(default)]
        pub modified: Vec<String>,
    }
    #[derive(Deserialize)]
    pub struct Status {
        pub sha: Option<String>,
        pub context: Option<String>,
        pub state: Option<String>,
        pub sender: Option<Account>,
        pub repository: Option<Repository>,
    }
    #[derive(Deserialize)]
    pub struct MergeGroupBody {
        pub head_sha: Option<String>,
        pub head_ref: Option<String>,
        pub base_sha: Option<String>,
        pub base_ref: Option<String>,
    }
    /// `merge_group`: https://docs.github.com/en/webhooks/webhook-events-and-payloads#merge_group
    #[derive(Deserialize)]
    pub struct MergeGroup {
        pub action: Option<String>,
        pub merge_group: Option<MergeGroupBody>,
        pub repository: Option<Repository>,
    }
    #[derive(Deserialize)]
    pub struct App {
        pub id: Option<u64>,
        pub slug: Option<String>,
    }
    #[derive(Deserialize)]
    pub struct CheckRunBody {
        pub name: Option<String>,
        pub head_sha: Option<String>,
        pub app: Option<App>,
    }
    /// `check_run`: https://docs.github.com/en/webhooks/webhook-events-and-payloads#check_run
    #[derive(Deserialize)]
    pub struct CheckRun {
        pub check_run: Option<CheckRunBody>,
        pub repository: Option<Repository>,
    }
    /// Any other event: the body must still be JSON, but nothing in it is kept.
    #[derive(Deserialize)]
    pub(crate) struct Anything {}
}

/// GitHub lists at most this many commits in a push delivery.
const PUSH_COMMITS_LISTED: usize = 20;

/// Whether a push changed the policy file, when its delivery tells for sure: every commit is
/// listed (fewer than GitHub's cap) and it was not forced (a force push can drop commits that
/// changed it). `None` asks the caller to look at the code host.
fn policy_touched(p: &wire::Push) -> Option<bool> {
    let commits = p.commits.as_ref()?;
    if p.forced.unwrap_or(false) || commits.len() >= PUSH_COMMITS_LISTED || commits.is_empty() {
        return None;
    }
    Some(commits.iter().any(|c| {
        c.added
            .iter()
            .chain(&c.removed)
            .chain(&c.modified)
            .any(|f| f == crate::policy::POLICY_PATH)
    }))
}

/// Decodes a delivery body into our own [`Event`], reading only the fields prgate uses.
///
/// Unknown events, and known events without what we need, are [`Event::Ignored`]; a body that
/// is not JSON (or has the wrong JSON types) is a [`DecodeError`].
pub fn decode_event(event_name: &str, body: &[u8]) -> Result<Event, DecodeError> {
    let d = Decoder { event_name };
    let decoded = match event_name {
        "ping" => {
            let _: wire::Anything = d.json(body)?;
            Some(Event::Ping)
        }
        "pull_request" => d.pull_request(d.json(body)?)?.map(Event::PullRequest),
        "pull_request_review" => d.review(d.json(body)?)?.map(Event::PullRequestReview),
        "push" => d.push(d.json(body)?)?.map(Event::Push),
        "status" => d.status(d.json(body)?)?.map(Event::Status),
        "check_run" => d.check_run(d.json(body)?)?.map(Event::CheckRun),
        "merge_group" => d.merge_group(d.json(body)?)?.map(Event::MergeGroup),
        _ => {
            let _: serde::de::IgnoredAny = d.json(body)?;
            None
        }
    };
    Ok(decoded.unwrap_or_else(|| Event::Ignored {
        event: event_name.to_string(),
    }))
}

/// Decodes one event's fields; `Ok(None)` when the payload lacks one prgate needs.
struct Decoder<'a> {
    event_name: &'a str,
}

impl Decoder<'_> {
    fn json<T: serde::de::DeserializeOwned>(&self, body: &[u8]) -> Result<T, DecodeError> {
        serde_json::from_slice(body).map_err(|source| DecodeError::Json {
            event: self.event_name.to_string(),
            source,
        })
    }

    fn field_err(&self, field: &'static str, message: String) -> DecodeError {
        DecodeError::Field {
            event: self.event_name.to_string(),
            field,
            message,
        }
    }

    fn repo(&self, r: Option<wire::Repository>) -> Result<Option<RepoName>, DecodeError> {
        match r.and_then(|r| r.full_name) {
            None => Ok(None),
            Some(name) => name
                .parse()
                .map(Some)
                .map_err(|e: crate::types::InvalidId| {
                    self.field_err("repository.full_name", e.to_string())
                }),
        }
    }

    fn sha(
        &self,
        field: &'static str,
        s: Option<String>,
    ) -> Result<Option<CommitSha>, DecodeError> {
        match s {
            None => Ok(None),
            Some(s) if s == NULL_SHA => Ok(None),
            Some(s) => s
                .parse()
                .map(Some)
                .map_err(|e: crate::types::InvalidId| self.field_err(field, e.to_string())),
        }
    }

    fn pull_request(&self, p: wire::PullRequest) -> Result<Option<PullRequestEvent>, DecodeError> {
        let (Some(action), Some(pr), Some(repo)) =
            (p.action, p.pull_request, self.repo(p.repository)?)
        else {
            return Ok(None);
        };
        let (Some(number), Some(base_ref)) =
            (p.number.or(pr.number), pr.base.and_then(|b| b.git_ref))
        else {
            return Ok(None);
        };
        let head_sha = self.sha("pull_request.head.sha", pr.head.and_then(|h| h.sha))?;
        Ok(Some(PullRequestEvent {
            action,
            repo,
            number: PullNumber(number),
            head_sha,
            base_ref,
        }))
    }

    fn review(&self, p: wire::PullRequestReview) -> Result<Option<ReviewEvent>, DecodeError> {
        let (Some(action), Some(number), Some(repo)) = (
            p.action,
            p.pull_request.and_then(|pr| pr.number),
            self.repo(p.repository)?,
        ) else {
            return Ok(None);
        };
        Ok(Some(ReviewEvent {
            action,
            repo,
            number: PullNumber(number),
        }))
    }

    fn push(&self, p: wire::Push) -> Result<Option<PushEvent>, DecodeError> {
        let touched = policy_touched(&p);
        let (Some(git_ref), Some(repo)) = (p.git_ref, self.repo(p.repository)?) else {
            return Ok(None);
        };
        Ok(Some(PushEvent {
            repo,
            git_ref,
            before: self.sha("before", p.before)?,
            after: self.sha("after", p.after)?,
            forced: p.forced.unwrap_or(false),
            policy_touched: touched,
            sender: p.sender.and_then(|s| {
                Some(EventAccount {
                    login: Login::new(s.login?),
                    id: s.id?,
                    kind: s.kind.unwrap_or_default(),
                })
            }),
        }))
    }

    fn status(&self, p: wire::Status) -> Result<Option<StatusEvent>, DecodeError> {
        let (Some(sha), Some(context), Some(state), Some(repo)) = (
            self.sha("sha", p.sha)?,
            p.context,
            p.state,
            self.repo(p.repository)?,
        ) else {
            return Ok(None);
        };
        Ok(Some(StatusEvent {
            repo,
            sha,
            context,
            state,
            sender: p.sender.and_then(|s| s.login).map(Login::new),
        }))
    }

    fn check_run(&self, p: wire::CheckRun) -> Result<Option<CheckRunEvent>, DecodeError> {
        let (Some(run), Some(repo)) = (p.check_run, self.repo(p.repository)?) else {
            return Ok(None);
        };
        let (Some(name), Some(head_sha)) =
            (run.name, self.sha("check_run.head_sha", run.head_sha)?)
        else {
            return Ok(None);
        };
        // Only prgate's own context matters; any other check run is someone's CI.
        if name != crate::APPROVAL_CONTEXT {
            return Ok(None);
        }
        Ok(Some(CheckRunEvent {
            repo,
            name,
            head_sha,
            app_id: run.app.as_ref().and_then(|a| a.id),
            app_slug: run.app.and_then(|a| a.slug),
        }))
    }

    fn merge_group(&self, p: wire::MergeGroup) -> Result<Option<MergeGroupEvent>, DecodeError> {
        let (Some(action), Some(g), Some(repo)) =
            (p.action, p.merge_group, self.repo(p.repository)?)
        else {
            return Ok(None);
        };
        let (Some(head_sha), Some(base_sha), Some(head_ref), Some(base_ref)) = (
            self.sha("merge_group.head_sha", g.head_sha)?,
            self.sha("merge_group.base_sha", g.base_sha)?,
            g.head_ref,
            g.base_ref,
        ) else {
            return Ok(None);
        };
        Ok(Some(MergeGroupEvent {
            action,
            repo,
            head_sha,
            head_ref,
            base_sha,
            base_ref,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA_A: &str = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";
    const SHA_B: &str = "34c5c7793cb3b279e22454cb6750c80560547b3a";

    fn repo() -> RepoName {
        "acme/infra".parse().unwrap()
    }

    #[test]
    fn pull_request() {
        let body = format!(
            r#"{{"action":"synchronize","number":42,"pull_request":{{"number":42,"head":{{"sha":"{SHA_A}"}},"base":{{"ref":"main"}},"title":"x"}},"repository":{{"full_name":"acme/infra","id":1}},"extra":[1,2,{{}}]}}"#
        );
        let e = decode_event("pull_request", body.as_bytes()).unwrap();
        assert_eq!(
            e,
            Event::PullRequest(PullRequestEvent {
                action: "synchronize".into(),
                repo: repo(),
                number: PullNumber(42),
                head_sha: Some(SHA_A.parse().unwrap()),
                base_ref: "main".into(),
            })
        );
    }

    #[test]
    fn new_actions_are_kept_as_strings() {
        let body = r#"{"action":"some_future_action","pull_request":{"number":7},"repository":{"full_name":"acme/infra"}}"#;
        let e = decode_event("pull_request_review", body.as_bytes()).unwrap();
        assert_eq!(
            e,
            Event::PullRequestReview(ReviewEvent {
                action: "some_future_action".into(),
                repo: repo(),
                number: PullNumber(7)
            })
        );
    }

    #[test]
    fn push_maps_null_shas_to_none() {
        let zero = NULL_SHA;
        let created = format!(
            r#"{{"ref":"refs/heads/main","before":"{zero}","after":"{SHA_B}","forced":false,"repository":{{"full_name":"acme/infra"}}}}"#
        );
        let deleted = format!(
            r#"{{"ref":"refs/heads/x","before":"{SHA_A}","after":"{zero}","forced":true,"repository":{{"full_name":"acme/infra"}}}}"#
        );
        assert_eq!(
            decode_event("push", created.as_bytes()).unwrap(),
            Event::Push(PushEvent {
                repo: repo(),
                git_ref: "refs/heads/main".into(),
                before: None,
                after: Some(SHA_B.parse().unwrap()),
                forced: false,
                sender: None,
                policy_touched: None
            })
        );
        assert_eq!(
            decode_event("push", deleted.as_bytes()).unwrap(),
            Event::Push(PushEvent {
                repo: repo(),
                git_ref: "refs/heads/x".into(),
                before: Some(SHA_A.parse().unwrap()),
                after: None,
                forced: true,
                sender: None,
                policy_touched: None
            })
        );
    }

    #[test]
    fn status_keeps_the_sender() {
        let body = format!(
            r#"{{"sha":"{SHA_A}","context":"prgate/approval","state":"success","sender":{{"login":"mallory"}},"repository":{{"full_name":"acme/infra"}}}}"#
        );
        assert_eq!(
            decode_event("status", body.as_bytes()).unwrap(),
            Event::Status(StatusEvent {
                repo: repo(),
                sha: SHA_A.parse().unwrap(),
                context: "prgate/approval".into(),
                state: "success".into(),
                sender: Some(Login::new("mallory")),
            })
        );
    }

    #[test]
    fn unknown_and_incomplete_events_are_ignored() {
        let ignored = |e: &str| Event::Ignored {
            event: e.to_string(),
        };
        assert_eq!(
            decode_event("issues", br#"{"action":"opened"}"#).unwrap(),
            ignored("issues")
        );
        assert_eq!(
            decode_event("pull_request", br#"{"action":"opened","number":1}"#).unwrap(),
            ignored("pull_request")
        );
        assert_eq!(
            decode_event("push", br#"{"ref":"refs/heads/main"}"#).unwrap(),
            ignored("push")
        );
        assert_eq!(
            decode_event("ping", br#"{"zen":"Keep it logically awesome."}"#).unwrap(),
            Event::Ping
        );
    }

    #[test]
    fn malformed_bodies_are_errors() {
        for event in [
            "pull_request",
            "pull_request_review",
            "push",
            "status",
            "ping",
            "issues",
        ] {
            assert!(decode_event(event, b"{not json").is_err(), "{event}");
            assert!(decode_event(event, b"").is_err(), "{event}");
            assert!(decode_event(event, b"{} trailing").is_err(), "{event}");
        }
        assert!(decode_event("pull_request", br#"{"action":"opened","number":"one"}"#).is_err());
        let bad_sha = r#"{"sha":"nothex","context":"c","state":"success","repository":{"full_name":"acme/infra"}}"#;
        assert!(matches!(
            decode_event("status", bad_sha.as_bytes()),
            Err(DecodeError::Field { .. })
        ));
    }
}
