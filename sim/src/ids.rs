//! The simulator's own identifiers: account ids, logins and repository names, compared as
//! GitHub compares them. They are deliberately not prgate's types, so that the simulator
//! cannot share a mistake with the code it tests.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The numeric, immutable id GitHub gives an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(pub u64);

/// An account's login. GitHub treats logins case-insensitively.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Login(String);

impl Login {
    pub fn new(login: impl Into<String>) -> Self {
        Login(login.into())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    fn folded(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

impl PartialEq for Login {
    fn eq(&self, other: &Self) -> bool {
        self.0.eq_ignore_ascii_case(&other.0)
    }
}
impl Eq for Login {}
impl Hash for Login {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.folded().hash(state)
    }
}
impl PartialOrd for Login {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Login {
    fn cmp(&self, other: &Self) -> Ordering {
        self.folded().cmp(&other.folded())
    }
}
impl fmt::Display for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `owner/name` of a repository, as the seed and the API paths spell it. GitHub compares
/// repository names case-insensitively and allows letters, digits, `-`, `_` and `.` in each
/// part (at most 100 characters, and neither `.` nor `..`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RepoName {
    full: String,
    slash: usize,
}

impl RepoName {
    pub fn new(owner: &str, name: &str) -> Result<Self, String> {
        format!("{owner}/{name}").parse()
    }
    pub fn owner(&self) -> &str {
        &self.full[..self.slash]
    }
    pub fn name(&self) -> &str {
        &self.full[self.slash + 1..]
    }
    /// Owner first, then name: `acme/x` sorts before `acme-b/x`, as the pair it is.
    fn folded(&self) -> (String, String) {
        (
            self.owner().to_ascii_lowercase(),
            self.name().to_ascii_lowercase(),
        )
    }
}

impl FromStr for RepoName {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let allowed = |part: &str| {
            (1..=100).contains(&part.len())
                && part != "."
                && part != ".."
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        };
        match text.split_once('/') {
            Some((owner, name)) if allowed(owner) && allowed(name) => Ok(RepoName {
                full: text.to_string(),
                slash: owner.len(),
            }),
            Some(_) => Err(format!(
                "repository {text:?} is not valid: expected OWNER/REPO with letters, digits, \
                 '-', '_' or '.'"
            )),
            None => Err(format!(
                "repository {text:?} is not valid: expected OWNER/REPO"
            )),
        }
    }
}

impl TryFrom<String> for RepoName {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        text.parse()
    }
}
impl From<RepoName> for String {
    fn from(repo: RepoName) -> String {
        repo.full
    }
}
impl fmt::Display for RepoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full)
    }
}
impl PartialEq for RepoName {
    fn eq(&self, other: &Self) -> bool {
        self.full.eq_ignore_ascii_case(&other.full)
    }
}
impl Eq for RepoName {}
impl Hash for RepoName {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.folded().hash(state)
    }
}
impl PartialOrd for RepoName {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for RepoName {
    fn cmp(&self, other: &Self) -> Ordering {
        self.folded().cmp(&other.folded())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_names_compare_case_insensitively_and_refuse_bad_parts() {
        let a: RepoName = "Acme/Infra".parse().unwrap();
        let b = RepoName::new("acme", "infra").unwrap();
        assert_eq!(a, b);
        assert_eq!((a.owner(), a.name()), ("Acme", "Infra"));
        assert_eq!(a.to_string(), "Acme/Infra");
        for bad in ["acme", "acme/", "/infra", "acme/..", "acme/in fra", "a/b/c"] {
            assert!(bad.parse::<RepoName>().is_err(), "{bad}");
        }
        assert_eq!(Login::new("Octo"), Login::new("octo"));
    }
}
