//! The repo owner's policy file, `.github/prgate.toml`, as prgate reads it: its types (parsed
//! strictly, see `validate`), read at the tip of the PR's base branch.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::config::HumanDuration;
use crate::types::Login;

/// Where the policy lives in a governed repository.
pub const POLICY_PATH: &str = ".github/prgate.toml";

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum MergeMode {
    Auto,
    #[default]
    Manual,
    /// prgate puts approved PRs into GitHub's merge queue, pinned to the approved head, and
    /// answers the queue's `merge_group` checks (DESIGN "Merge queues").
    Queue,
}

/// `org/slug` of a team.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TeamRef {
    pub org: String,
    pub slug: String,
}

impl TryFrom<String> for TeamRef {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        match s.split_once('/') {
            Some((org, slug)) if !org.is_empty() && !slug.is_empty() && !slug.contains('/') => {
                Ok(TeamRef {
                    org: org.to_ascii_lowercase(),
                    slug: slug.to_ascii_lowercase(),
                })
            }
            _ => Err(format!(
                "team {s:?} must be written ORG/TEAM-SLUG, e.g. \"acme/netops\""
            )),
        }
    }
}
impl From<TeamRef> for String {
    fn from(t: TeamRef) -> String {
        t.to_string()
    }
}
impl fmt::Display for TeamRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.org, self.slug)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Approvers {
    #[serde(default)]
    pub users: Vec<Login>,
    #[serde(default)]
    pub teams: Vec<TeamRef>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Identities {
    #[serde(default)]
    pub agents: Vec<Login>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DefaultRule {
    pub approvers: Approvers,
    #[serde(default = "one")]
    pub min_approvals: u32,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub name: String,
    pub paths: Vec<String>,
    pub approvers: Approvers,
    #[serde(default = "one")]
    pub min_approvals: u32,
    #[serde(default)]
    pub executor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RepoPolicy {
    pub version: u32,
    #[serde(default)]
    pub expire_after: Option<HumanDuration>,
    #[serde(default)]
    pub merge: MergeMode,
    #[serde(default)]
    pub identities: Identities,
    #[serde(default)]
    pub defaults: Option<DefaultRule>,
    #[serde(default)]
    pub rules: Vec<Rule>,
}

impl schemars::JsonSchema for TeamRef {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "TeamRef".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[^/]+/[^/]+$",
            "description": "A team as ORG/TEAM-SLUG, e.g. \"acme/netops\"."
        })
    }
}
