//! Small newtypes for the identifiers every part of prgate passes around, so that a commit SHA
//! can never be confused with a branch name, nor a login with a team.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why an identifier given from outside the process was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {value:?} is not valid: {why}")]
pub struct InvalidId {
    pub what: &'static str,
    pub value: String,
    pub why: &'static str,
}

/// `owner/name` of a repository. Compared case-insensitively, as GitHub does.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RepoName {
    owner: String,
    name: String,
}

impl RepoName {
    pub fn new(owner: &str, name: &str) -> Result<Self, InvalidId> {
        format!("{owner}/{name}").parse()
    }
    pub fn owner(&self) -> &str {
        &self.owner
    }
    pub fn name(&self) -> &str {
        &self.name
    }
    fn key(&self) -> (String, String) {
        (
            self.owner.to_ascii_lowercase(),
            self.name.to_ascii_lowercase(),
        )
    }
}

fn valid_repo_part(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.len() <= 100
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

impl FromStr for RepoName {
    type Err = InvalidId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |why| InvalidId {
            what: "repository",
            value: s.to_string(),
            why,
        };
        let (owner, name) = s
            .split_once('/')
            .ok_or_else(|| err("expected OWNER/REPO"))?;
        if !valid_repo_part(owner) || !valid_repo_part(name) {
            return Err(err(
                "expected OWNER/REPO with letters, digits, '-', '_' or '.'",
            ));
        }
        Ok(RepoName {
            owner: owner.to_string(),
            name: name.to_string(),
        })
    }
}

impl TryFrom<String> for RepoName {
    type Error = InvalidId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<RepoName> for String {
    fn from(r: RepoName) -> String {
        r.to_string()
    }
}

impl fmt::Display for RepoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

impl PartialEq for RepoName {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl Eq for RepoName {}
impl std::hash::Hash for RepoName {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.key().hash(state)
    }
}
impl PartialOrd for RepoName {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for RepoName {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

/// A full 40-hex-digit commit (or blob) SHA, stored lowercase.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CommitSha(String);

impl CommitSha {
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The first 7 digits, as people read them.
    pub fn short(&self) -> &str {
        &self.0[..7]
    }
}

impl FromStr for CommitSha {
    type Err = InvalidId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(CommitSha(s.to_ascii_lowercase()))
        } else {
            Err(InvalidId {
                what: "commit SHA",
                value: s.to_string(),
                why: "expected 40 hex digits",
            })
        }
    }
}
impl TryFrom<String> for CommitSha {
    type Error = InvalidId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}
impl From<CommitSha> for String {
    fn from(c: CommitSha) -> String {
        c.0
    }
}
impl fmt::Display for CommitSha {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A pull request number within a repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PullNumber(pub u64);

impl fmt::Display for PullNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A GitHub account login. Compared case-insensitively, as GitHub does; permissions are
/// checked by [`UserId`] wherever the code host gives one.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct Login(String);

impl Login {
    pub fn new(s: impl Into<String>) -> Self {
        Login(s.into())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The login, without a policy's pinned id: `alice` of `alice#583231`.
    pub fn name(&self) -> &str {
        self.0.split_once('#').map_or(&self.0, |(name, _)| name)
    }
    /// A policy's pinned account id (`alice#583231`): then only that account counts, whatever
    /// its login is today. `None` when the entry is not pinned, `Some(Err)` when what follows
    /// `#` is not an id.
    pub fn pinned_id(&self) -> Option<Result<UserId, String>> {
        let (_, id) = self.0.split_once('#')?;
        Some(
            id.parse::<u64>()
                .map(UserId)
                .map_err(|_| format!("{:?}: the account id after '#' must be a number", self.0)),
        )
    }
    /// Whether this policy entry names `account`: by the pinned id when there is one, else
    /// by login (compared without case).
    pub fn names_account(&self, login: &Login, id: UserId) -> bool {
        match self.pinned_id() {
            Some(pinned) => pinned == Ok(id),
            None => self == login,
        }
    }
}
impl PartialEq for Login {
    fn eq(&self, other: &Self) -> bool {
        self.0.eq_ignore_ascii_case(&other.0)
    }
}
impl Eq for Login {}
impl std::hash::Hash for Login {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.to_ascii_lowercase().hash(state)
    }
}
impl PartialOrd for Login {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Login {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0
            .to_ascii_lowercase()
            .cmp(&other.0.to_ascii_lowercase())
    }
}
impl fmt::Display for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The numeric, immutable id of a GitHub account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(pub u64);

/// A reference to one pull request: `owner/repo#N`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PullRef {
    pub repo: RepoName,
    pub number: PullNumber,
}

impl FromStr for PullRef {
    type Err = InvalidId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |why| InvalidId {
            what: "pull request",
            value: s.to_string(),
            why,
        };
        if s.contains("://") {
            return pull_ref_from_url(s).ok_or_else(|| {
                err("expected OWNER/REPO#NUMBER or a PR's URL like https://HOST/OWNER/REPO/pull/NUMBER")
            });
        }
        let (repo, n) = s
            .rsplit_once('#')
            .ok_or_else(|| err("expected OWNER/REPO#NUMBER or a PR's URL"))?;
        let repo = repo
            .parse()
            .map_err(|_| err("expected OWNER/REPO#NUMBER"))?;
        let n: u64 = n
            .parse()
            .map_err(|_| err("the part after '#' must be a number"))?;
        if n == 0 {
            return Err(err("pull request numbers start at 1"));
        }
        Ok(PullRef {
            repo,
            number: PullNumber(n),
        })
    }
}

/// A PR's web URL on the code host: `https://github.com/OWNER/REPO/pull/N` on github.com,
/// the same path under a GHES host, or under the simulator's base URL (whatever prefix comes
/// before `OWNER/REPO`); a trailing `/files`, `/commits` or `/checks` tab is allowed.
fn pull_ref_from_url(s: &str) -> Option<PullRef> {
    let url = url::Url::parse(s).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return None;
    }
    let mut segs: Vec<&str> = url.path_segments()?.filter(|p| !p.is_empty()).collect();
    if matches!(segs.last(), Some(&("files" | "commits" | "checks"))) {
        segs.pop();
    }
    let [.., owner, repo, "pull", n] = segs.as_slice() else {
        return None;
    };
    let n: u64 = n.parse().ok().filter(|n| *n > 0)?;
    Some(PullRef {
        repo: format!("{owner}/{repo}").parse().ok()?,
        number: PullNumber(n),
    })
}

impl fmt::Display for PullRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.repo, self.number)
    }
}

/// Identifiers serialize as strings (`try_from`/`into` String); their schemas say so, with the
/// shape their parsers accept.
impl schemars::JsonSchema for CommitSha {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "CommitSha".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[0-9a-f]{40}$",
            "description": "A full commit id: 40 lowercase hex digits."
        })
    }
}

impl schemars::JsonSchema for RepoName {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "RepoName".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[^/]+/[^/]+$",
            "description": "OWNER/REPO on the code host."
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_names_parse_and_compare_case_insensitively() {
        let a: RepoName = "Acme/Infra".parse().unwrap();
        let b: RepoName = "acme/infra".parse().unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_string(), "Acme/Infra");
        assert!("acme".parse::<RepoName>().is_err());
        assert!("acme/../x".parse::<RepoName>().is_err());
        assert!("acme/".parse::<RepoName>().is_err());
    }

    #[test]
    fn shas_must_be_full_hex() {
        assert!("abc".parse::<CommitSha>().is_err());
        let s: CommitSha = "ABCDEF0123456789abcdef0123456789abcdef01".parse().unwrap();
        assert_eq!(s.as_str(), "abcdef0123456789abcdef0123456789abcdef01");
        assert_eq!(s.short(), "abcdef0");
    }

    #[test]
    fn pull_refs_parse() {
        let p: PullRef = "acme/infra#42".parse().unwrap();
        assert_eq!(p.number, PullNumber(42));
        assert_eq!(p.to_string(), "acme/infra#42");
        assert!("acme/infra#x".parse::<PullRef>().is_err());
        assert!("acme/infra#0".parse::<PullRef>().is_err());
        assert!("acme/infra".parse::<PullRef>().is_err());
    }

    #[test]
    fn pull_refs_parse_from_the_code_hosts_urls() {
        for url in [
            "https://github.com/acme/infra/pull/42",
            "https://ghe.example.com/acme/infra/pull/42/files",
            "http://127.0.0.1:39123/acme/infra/pull/42",
            "https://github.com/acme/infra/pull/42?notification=1#discussion",
        ] {
            let p: PullRef = url.parse().unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(p.to_string(), "acme/infra#42", "{url}");
        }
        for bad in [
            "https://github.com/acme/infra/issues/42",
            "https://github.com/acme/infra/pull/0",
            "https://github.com/acme/pull/42",
            "ftp://github.com/acme/infra/pull/42",
            "https://github.com/acme/infra/pull/x",
        ] {
            assert!(bad.parse::<PullRef>().is_err(), "{bad}");
        }
    }
}
