//! The simulator's seed file: users with tokens, teams, repos with their protection, hooks.
//! Parsed strictly so that a typo in a test fixture fails loudly instead of silently
//! granting or withholding a permission.

use serde::Deserialize;

use super::SimError;
use crate::ids::{Login, RepoName};

/// The parsed seed file (see DESIGN.md, "The simulator"). Fields are public so that tests can
/// build a state in code instead of writing TOML.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimState {
    #[serde(default)]
    pub users: Vec<SeedUser>,
    #[serde(default)]
    pub teams: Vec<SeedTeam>,
    #[serde(default)]
    pub repos: Vec<SeedRepo>,
    #[serde(default)]
    pub hooks: Vec<SeedHook>,
    #[serde(default)]
    pub apps: Vec<SeedApp>,
    /// Requests (REST) and points (GraphQL) per hour of each budget: GitHub's 5,000 by
    /// default, 15,000 for an installation on a GitHub Enterprise Cloud organisation ("Rate
    /// limits for the REST API", docs.github.com).
    #[serde(default)]
    pub rate_limit: Option<u64>,
}

/// A GitHub App: its JWTs are checked against `public_key` (RS256, PEM); its installation
/// tokens act as the account `<slug>[bot]` (type Bot), a writer on every repo of the
/// installations' accounts.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedApp {
    pub id: u64,
    pub slug: String,
    pub public_key: String,
    #[serde(default)]
    pub installations: Vec<SeedInstallation>,
    /// How long an installation token lives (GitHub: one hour); tests shorten it.
    #[serde(default = "default_token_lifetime")]
    pub token_lifetime_secs: u64,
    /// The events the app subscribes to, as its settings page sets them; `None`: those
    /// prgate's README asks for.
    #[serde(default)]
    pub events: Option<Vec<String>>,
    /// Repository permissions beyond the ones every simulated app has (`merge_queues =
    /// "read"`); `None`: those prgate's README asks for.
    #[serde(default)]
    pub extra_permissions: Option<std::collections::BTreeMap<String, String>>,
}

fn default_token_lifetime() -> u64 {
    3600
}

impl SeedApp {
    pub fn bot_login(&self) -> Login {
        Login::new(format!("{}[bot]", self.slug))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedInstallation {
    pub id: u64,
    /// The org or user the app is installed on.
    pub account: String,
}

/// Whether an account is a person or a bot; GitHub's `type` field.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum AccountType {
    #[default]
    User,
    Bot,
}

impl AccountType {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountType::User => "User",
            AccountType::Bot => "Bot",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedUser {
    pub login: Login,
    #[serde(rename = "type", default)]
    pub kind: AccountType,
    pub token: String,
    /// Defaults to `<login>@users.noreply.github.com`, as GitHub's private address.
    #[serde(default)]
    pub email: Option<String>,
}

impl SeedUser {
    pub fn new(login: &str, kind: AccountType, token: &str) -> Self {
        SeedUser {
            login: Login::new(login),
            kind,
            token: token.to_string(),
            email: None,
        }
    }
    pub fn email(&self) -> String {
        self.email
            .clone()
            .unwrap_or_else(|| format!("{}@users.noreply.github.com", self.login))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedTeam {
    pub org: String,
    pub slug: String,
    #[serde(default)]
    pub members: Vec<Login>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedRepo {
    pub name: RepoName,
    #[serde(default = "default_branch")]
    pub default_branch: String,
    #[serde(default)]
    pub admins: Vec<Login>,
    #[serde(default)]
    pub writers: Vec<Login>,
    #[serde(default)]
    pub required_contexts: Vec<String>,
    /// Required contexts with their expected source: `[{ context = "prgate/approval",
    /// app_id = 1 }]`; a status from anyone but that app's installation does not satisfy it.
    #[serde(default)]
    pub required_checks: Vec<SeedCheck>,
    #[serde(default)]
    pub enforce_admins: bool,
    /// Merges of the default branch go through GitHub's merge queue ("Require merge queue" in
    /// its protection): see `queue`.
    #[serde(default)]
    pub merge_queue: bool,
    /// The queue's "Status check timeout": a group whose required checks have not all passed
    /// this long after it was built is failed and its PR dequeued. GitHub's default is 60
    /// minutes. A duration such as `"90s"`, `"5m"`, `"1h"` or `"500ms"`.
    #[serde(default)]
    pub merge_queue_check_timeout: Option<String>,
}

/// GitHub's default "Status check timeout" of a merge queue: 60 minutes
/// (https://docs.github.com/en/repositories/configuring-branches-and-merges-in-your-repository/configuring-pull-request-merges/managing-a-merge-queue#managing-a-merge-queue).
pub const DEFAULT_QUEUE_CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3600);

/// Parses a duration of the seed: an integer and a unit, `ms`, `s`, `m` or `h`.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("{text:?} is not a duration such as \"60s\""))?;
    let ms = match unit.trim() {
        "ms" => Some(n),
        "s" => n.checked_mul(1000),
        "m" => n.checked_mul(60_000),
        "h" => n.checked_mul(3_600_000),
        _ => None,
    }
    .ok_or_else(|| format!("{text:?} is not a duration such as \"60s\" (units: ms, s, m, h)"))?;
    if ms == 0 {
        return Err(format!("{text:?} is not a positive duration"));
    }
    Ok(std::time::Duration::from_millis(ms))
}

impl SeedRepo {
    /// The queue's status check timeout (checked by [`SimState::validate`]).
    pub fn queue_check_timeout(&self) -> std::time::Duration {
        self.merge_queue_check_timeout
            .as_deref()
            .and_then(|t| parse_duration(t).ok())
            .unwrap_or(DEFAULT_QUEUE_CHECK_TIMEOUT)
    }
}

/// A required status context, optionally pinned to the app that must provide it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedCheck {
    pub context: String,
    #[serde(default)]
    pub app_id: Option<u64>,
}

fn default_branch() -> String {
    "main".to_string()
}

impl SeedRepo {
    pub fn new(name: &str) -> Result<Self, SimError> {
        Ok(SeedRepo {
            name: name.parse().map_err(SimError::Seed)?,
            default_branch: default_branch(),
            admins: vec![],
            writers: vec![],
            required_contexts: vec![],
            required_checks: vec![],
            enforce_admins: false,
            merge_queue: false,
            merge_queue_check_timeout: None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedHook {
    pub url: String,
    pub secret: String,
}

impl SimState {
    /// Parses and checks a seed file. Errors carry line and column and name the bad entry.
    pub fn from_toml(text: &str) -> Result<SimState, SimError> {
        let state: SimState = toml::from_str(text).map_err(|e| {
            let (line, col) = e.span().map(|s| line_col(text, s.start)).unwrap_or((0, 0));
            SimError::Seed(format!("{line}:{col}: {}", e.message()))
        })?;
        state.validate()?;
        Ok(state)
    }

    /// Cross-checks references between entries: every login named by a team or repo must be
    /// a declared user, logins and tokens must be unique.
    pub fn validate(&self) -> Result<(), SimError> {
        let err = |m: String| Err(SimError::Seed(m));
        let mut logins = std::collections::HashSet::new();
        let mut tokens = std::collections::HashSet::new();
        for u in &self.users {
            if u.login.as_str().is_empty() {
                return err("a user has an empty login".into());
            }
            if !logins.insert(u.login.clone()) {
                return err(format!("user {} is declared twice", u.login));
            }
            if ["github-actions[bot]", "github-merge-queue[bot]"]
                .iter()
                .any(|b| u.login == Login::new(*b))
            {
                return err(format!(
                    "user {} is GitHub's own bot, built into the simulator; choose another login",
                    u.login
                ));
            }
            if u.token.is_empty() || !tokens.insert(u.token.clone()) {
                return err(format!(
                    "user {} needs a non-empty token used by no other user",
                    u.login
                ));
            }
        }
        let known = |l: &Login, what: &str| -> Result<(), SimError> {
            if logins.contains(l) {
                Ok(())
            } else {
                Err(SimError::Seed(format!(
                    "{what} names user {l}, who is not in [[users]]"
                )))
            }
        };
        // GitHub's teams are made of organization members ("People with owner or team
        // maintainer permissions can add organization members to teams",
        // https://docs.github.com/en/organizations/organizing-members-into-teams/adding-organization-members-to-a-team),
        // and a bot account (an app's `<slug>[bot]`, or any account of type Bot) is none: its
        // schema says so too, `Team.members` being a connection of `User`s. A seed naming one
        // would make every GraphQL query of that team fail later; refuse it here instead.
        for t in &self.teams {
            for m in &t.members {
                let team = format!("{}/{}", t.org, t.slug);
                if let Some(a) = self.apps.iter().find(|a| &a.bot_login() == m) {
                    return err(format!(
                        "team {team}: member {m} is the bot account of app {}; GitHub teams hold only user accounts, so remove it from the team's members",
                        a.id
                    ));
                }
                if self
                    .users
                    .iter()
                    .any(|u| &u.login == m && u.kind == AccountType::Bot)
                {
                    return err(format!(
                        "team {team}: member {m} is a Bot account; GitHub teams hold only user accounts, so remove it from the team's members (or declare it with type = \"User\", a machine user)"
                    ));
                }
                known(m, &format!("team {team}"))?;
            }
        }
        let mut repos = std::collections::HashSet::new();
        for r in &self.repos {
            if !repos.insert(r.name.clone()) {
                return err(format!("repo {} is declared twice", r.name));
            }
            if r.default_branch.is_empty()
                || !git2::Reference::is_valid_name(&format!("refs/heads/{}", r.default_branch))
            {
                return err(format!(
                    "repo {}: default_branch {:?} is not a valid branch name",
                    r.name, r.default_branch
                ));
            }
            for l in r.admins.iter().chain(&r.writers) {
                known(l, &format!("repo {}", r.name))?;
            }
            if let Some(t) = &r.merge_queue_check_timeout {
                parse_duration(t).map_err(|e| {
                    SimError::Seed(format!("repo {}: merge_queue_check_timeout {e}", r.name))
                })?;
            }
        }
        let mut app_ids = std::collections::HashSet::new();
        let mut installation_ids = std::collections::HashSet::new();
        for a in &self.apps {
            if a.id == 15368 || a.slug.eq_ignore_ascii_case("github-actions") {
                return err(format!(
                    "app {}: GitHub Actions (id 15368, slug github-actions) is built into the simulator; choose another id and slug",
                    a.id
                ));
            }
            if !app_ids.insert(a.id) || a.slug.is_empty() {
                return err(format!(
                    "app {} needs a unique id and a non-empty slug",
                    a.id
                ));
            }
            if logins.contains(&a.bot_login()) {
                return err(format!(
                    "app {}: {} is also declared as a user",
                    a.id,
                    a.bot_login()
                ));
            }
            if let Err(e) = jsonwebtoken::DecodingKey::from_rsa_pem(a.public_key.as_bytes()) {
                return err(format!(
                    "app {}: public_key is not an RSA public key in PEM form: {e}",
                    a.id
                ));
            }
            for i in &a.installations {
                if !installation_ids.insert(i.id) || i.account.is_empty() {
                    return err(format!(
                        "app {}: installation {} needs a unique id and an account",
                        a.id, i.id
                    ));
                }
            }
        }
        Ok(())
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_design_example() {
        let s = SimState::from_toml(
            r#"
[[users]]
login = "alice"
token = "alice-token"
[[users]]
login = "ops-agent[bot]"
type = "Bot"
token = "bot-token"
email = "bot@example.com"
[[teams]]
org = "acme"
slug = "netops"
members = ["alice"]
[[repos]]
name = "acme/infra"
admins = ["alice"]
writers = ["ops-agent[bot]"]
required_contexts = ["prgate/approval"]
[[hooks]]
url = "http://127.0.0.1:1/webhook"
secret = "s"
"#,
        )
        .unwrap();
        assert_eq!(s.users[0].email(), "alice@users.noreply.github.com");
        assert_eq!(s.users[1].kind, AccountType::Bot);
        assert_eq!(s.repos[0].default_branch, "main");
    }

    #[test]
    fn apps_need_a_readable_public_key_and_unique_installations() {
        let e = SimState::from_toml("[[apps]]\nid = 1\nslug = \"p\"\npublic_key = \"nope\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("public_key"), "{e}");
        let e = SimState::from_toml("[[apps]]\nid = 1\nslug = \"p\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("public_key"), "{e}");
    }

    #[test]
    fn unknown_keys_and_unknown_users_are_errors() {
        let e = SimState::from_toml("[[users]]\nlogin = \"a\"\ntoken = \"t\"\nrole = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("4:1") && e.contains("role"), "{e}");
        let e = SimState::from_toml("[[repos]]\nname = \"a/b\"\nwriters = [\"nobody\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("nobody"), "{e}");
    }

    #[test]
    fn a_bot_in_a_team_is_refused_naming_it_and_what_to_do() {
        let e = SimState::from_toml(
            "[[users]]\nlogin = \"ops-agent[bot]\"\ntype = \"Bot\"\ntoken = \"t\"\n[[teams]]\norg = \"acme\"\nslug = \"netops\"\nmembers = [\"ops-agent[bot]\"]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("team acme/netops")
                && e.contains("ops-agent[bot] is a Bot account")
                && e.contains("remove it from the team"),
            "{e}"
        );
    }

    #[test]
    fn queue_timeouts_parse_and_bad_ones_are_refused() {
        assert_eq!(parse_duration("60s").unwrap().as_secs(), 60);
        assert_eq!(parse_duration("5m").unwrap().as_secs(), 300);
        assert_eq!(parse_duration("1h").unwrap().as_secs(), 3600);
        assert_eq!(parse_duration("250ms").unwrap().as_millis(), 250);
        for bad in ["", "0s", "s", "10", "10 days", "-1s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        let s = SimState::from_toml(
            "[[repos]]\nname = \"a/b\"\nmerge_queue = true\nmerge_queue_check_timeout = \"90s\"\n",
        )
        .unwrap();
        assert!(s.repos[0].merge_queue);
        assert_eq!(s.repos[0].queue_check_timeout().as_secs(), 90);
        let e = SimState::from_toml(
            "[[repos]]\nname = \"a/b\"\nmerge_queue = true\nmerge_queue_check_timeout = \"soon\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("merge_queue_check_timeout"), "{e}");
    }
}
