//! The simulator's in-memory state: accounts, teams, repos and everything GitHub keeps
//! outside git (pull requests, reviews, statuses, comments, labels). Git objects and refs
//! live in the bare repositories on disk; this remembers the last ref values announced (so
//! that a move made past the simulator's git server can still be noticed) and who moved
//! which branch when (the repository activity API).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::seed::{AccountType, SimState};
use crate::ids::{Login, RepoName, UserId};

#[derive(Debug, Clone)]
pub struct Account {
    pub id: UserId,
    pub login: Login,
    pub kind: AccountType,
    /// Organisations are accounts too (repo owners, team owners) but have no token.
    pub is_org: bool,
    pub token: Option<String>,
    pub email: Option<String>,
    /// When the account was registered (GitHub's `created_at`); seeded accounts are older
    /// than anything a test does.
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct Team {
    pub id: u64,
    pub org: String,
    pub slug: String,
    pub members: Vec<UserId>,
}

#[derive(Debug, Clone)]
pub struct Review {
    pub id: u64,
    pub user: UserId,
    pub state: String,
    pub body: String,
    pub commit_id: String,
    pub submitted_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct Comment {
    pub id: u64,
    pub user: UserId,
    pub body: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct Pull {
    pub id: u64,
    pub number: u64,
    pub title: String,
    pub body: Option<String>,
    pub open: bool,
    pub draft: bool,
    pub user: UserId,
    pub head_ref: String,
    pub head_sha: String,
    pub base_ref: String,
    /// What the API shows as `base.sha`: the base tip when the PR was opened, refreshed only
    /// by a push to the head or a retarget. GitHub does not refresh it when the base branch
    /// moves (https://github.com/github/docs/issues/431), and prgate must not rely on it.
    pub base_sha: String,
    /// Base tip when the PR was closed; the PR's commits and files are computed from it
    /// afterwards (from the live tip while open).
    pub closed_base_sha: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub merged_at: Option<DateTime<Utc>>,
    pub merged_by: Option<UserId>,
    pub merge_commit_sha: Option<String>,
    pub labels: Vec<String>,
    pub reviews: Vec<Review>,
    pub comments: Vec<Comment>,
    /// Users and teams (ids) whose review is requested and who have not reviewed since.
    pub requested_users: Vec<UserId>,
    pub requested_teams: Vec<u64>,
    /// Issue events (`GET /issues/{n}/events`): `base_ref_changed`, `review_requested`, ...
    pub events: Vec<IssueEvent>,
}

/// One entry of a PR's issue events.
#[derive(Debug, Clone)]
pub struct IssueEvent {
    pub id: u64,
    pub event: String,
    pub actor: UserId,
    pub created_at: DateTime<Utc>,
    /// For `review_requested`: the requested user or team.
    pub requested_user: Option<UserId>,
    pub requested_team: Option<u64>,
    /// For `review_dismissed`: the review, its state before (lower case, as the REST event
    /// writes it) and the message.
    pub dismissed_review: Option<(u64, String, String)>,
}

#[derive(Debug, Clone)]
pub struct Status {
    pub id: u64,
    pub sha: String,
    pub state: String,
    pub context: String,
    pub description: Option<String>,
    pub target_url: Option<String>,
    pub creator: UserId,
    pub created_at: DateTime<Utc>,
}

/// A check run: only a GitHub App creates one, and only that app updates it.
#[derive(Debug, Clone)]
pub struct CheckRun {
    pub id: u64,
    /// The app that created it, and its bot account.
    pub app: u64,
    pub bot: UserId,
    /// GitHub groups an app's runs on one commit into a check suite.
    pub suite: u64,
    pub head_sha: String,
    pub name: String,
    pub status: String,
    pub conclusion: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub details_url: Option<String>,
    pub external_id: Option<String>,
    pub title: Option<String>,
    pub summary: Option<String>,
    pub text: Option<String>,
}

/// A pull request in the merge queue.
#[derive(Debug, Clone)]
pub struct QueueEntry {
    pub id: u64,
    pub number: u64,
    /// The PR's head when it was queued: a later push to the head takes it out of the queue.
    pub head_sha: String,
    pub enqueuer: UserId,
    pub enqueued_at: DateTime<Utc>,
    pub jump: bool,
    /// Its merge group, once built.
    pub group: Option<MergeGroup>,
}

/// The merge group of a queue entry: a commit GitHub made on a temporary branch.
#[derive(Debug, Clone)]
pub struct MergeGroup {
    /// `refs/heads/gh-readonly-queue/<base>/pr-<n>-<base_sha>`.
    pub head_ref: String,
    pub head_sha: String,
    /// Its parent: the previous group's head, or the base branch's tip for the first.
    pub base_sha: String,
    /// When its required checks time out, on the simulator's clock.
    pub deadline: DateTime<Utc>,
}

/// One entry of the repository activity API: a branch moved, by whom (`None`: the simulator
/// found the move on disk and knows no authenticated actor).
#[derive(Debug, Clone)]
pub struct Activity {
    pub id: u64,
    pub refname: String,
    pub before: String,
    pub after: String,
    pub timestamp: DateTime<Utc>,
    /// `push`, `force_push`, `branch_creation`, `branch_deletion`, `pr_merge` or
    /// `merge_queue_merge`.
    pub kind: &'static str,
    pub actor: Option<UserId>,
}

#[derive(Debug, Clone)]
pub struct Label {
    pub id: u64,
    pub name: String,
    pub color: String,
}

#[derive(Debug, Clone)]
pub struct Repo {
    pub id: u64,
    pub name: RepoName,
    pub owner: UserId,
    pub default_branch: String,
    pub admins: Vec<UserId>,
    pub writers: Vec<UserId>,
    pub required_contexts: Vec<String>,
    /// Required contexts pinned to an app (the "expected source"): context -> the account
    /// the app's installation acts as. A status from any other account does not satisfy them
    /// (the `app_id` of protection's `required_status_checks.checks`, "the ID of the GitHub
    /// App that must provide this check", GitHub's OpenAPI description).
    pub required_sources: BTreeMap<String, UserId>,
    /// The app id each pinned context names, as the seed gave it (branch protection answers it).
    pub required_apps: BTreeMap<String, u64>,
    pub enforce_admins: bool,
    /// Merges of the default branch go through the merge queue (see `queue`).
    pub merge_queue: bool,
    /// The queue's status check timeout.
    pub queue_timeout: chrono::Duration,
    /// The merge queue of the default branch, first in line first.
    pub queue: Vec<QueueEntry>,
    pub git_dir: PathBuf,
    pub created_at: DateTime<Utc>,
    pub pushed_at: DateTime<Utc>,
    pub pulls: Vec<Pull>,
    pub statuses: Vec<Status>,
    pub check_runs: Vec<CheckRun>,
    pub labels: Vec<Label>,
    /// Ref name -> sha as last announced; compared against disk by the scanner.
    pub known_refs: BTreeMap<String, String>,
    /// Branch moves, oldest first.
    pub activity: Vec<Activity>,
}

impl Repo {
    pub fn full_name(&self) -> String {
        self.name.to_string()
    }
    pub fn can_write(&self, user: UserId) -> bool {
        self.admins.contains(&user) || self.writers.contains(&user)
    }
    pub fn is_admin(&self, user: UserId) -> bool {
        self.admins.contains(&user)
    }
    pub fn pull(&self, number: u64) -> Option<&Pull> {
        self.pulls.iter().find(|p| p.number == number)
    }
    pub fn pull_mut(&mut self, number: u64) -> Option<&mut Pull> {
        self.pulls.iter_mut().find(|p| p.number == number)
    }
}

/// A GitHub App and the account its installation tokens act as.
#[derive(Debug, Clone)]
pub struct App {
    pub id: u64,
    pub slug: String,
    pub public_key: String,
    pub bot: UserId,
    /// (installation id, account login).
    pub installations: Vec<(u64, String)>,
    pub token_lifetime: chrono::Duration,
    /// `GET /app`'s `events`, and permissions beyond the common ones.
    pub events: Vec<String>,
    pub extra_permissions: BTreeMap<String, String>,
}

/// The events prgate's README asks its App to subscribe to.
pub fn default_app_events() -> Vec<String> {
    [
        "check_run",
        "merge_group",
        "pull_request",
        "pull_request_review",
        "push",
        "status",
    ]
    .iter()
    .map(|e| e.to_string())
    .collect()
}

/// An installation access token the simulator handed out.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub token: String,
    pub bot: UserId,
    /// GitHub counts an installation's rate limit per installation, not per token: a fresh
    /// token does not bring a fresh budget.
    pub installation: u64,
    pub expires_at: DateTime<Utc>,
}

/// Everything the simulator knows outside git.
#[derive(Debug)]
pub struct World {
    pub accounts: Vec<Account>,
    pub teams: Vec<Team>,
    pub repos: Vec<Repo>,
    pub apps: Vec<App>,
    pub issued_tokens: Vec<IssuedToken>,
    next_id: u64,
}

impl World {
    /// Builds the world from a seed. User ids start at 1000 in file order so that tests can
    /// predict them; organisations and everything else get ids from separate ranges.
    pub fn from_seed(seed: &SimState, data_dir: &Path) -> World {
        let now = Utc::now();
        let (accounts, apps) = seeded_accounts(seed);
        let teams = seed
            .teams
            .iter()
            .enumerate()
            .map(|(i, t)| Team {
                id: 100 + i as u64,
                org: t.org.clone(),
                slug: t.slug.clone(),
                members: t
                    .members
                    .iter()
                    .filter_map(|m| id_of(&accounts, m))
                    .collect(),
            })
            .collect();
        let repos: Vec<Repo> = seed
            .repos
            .iter()
            .enumerate()
            .map(|(i, r)| seeded_repo(i, r, &accounts, &apps, data_dir, now))
            .collect();
        World {
            accounts,
            teams,
            repos,
            apps,
            issued_tokens: Vec::new(),
            next_id: 1_000_000,
        }
    }

    /// GitHub's "Changing your username": the account keeps its id, and its old login is
    /// released at once for anyone to register (docs.github.com, "Changing your GitHub
    /// username": "After changing your username, your old username becomes available for
    /// anyone else to claim"). `Err` when `to` is taken.
    pub fn rename(&mut self, login: &str, to: &str) -> Result<(), String> {
        if self.account_by_login(to).is_some() {
            return Err(format!("{to} is taken"));
        }
        let login = Login::new(login);
        let a = self
            .accounts
            .iter_mut()
            .find(|a| a.login == login)
            .ok_or_else(|| format!("no account {}", login.as_str()))?;
        a.login = Login::new(to);
        Ok(())
    }

    /// A new user account registers `login` (a new id and `created_at` now), as anyone may
    /// claim a released login. `Err` when the login is taken.
    pub fn register(&mut self, login: &str, token: &str) -> Result<UserId, String> {
        if self.account_by_login(login).is_some() {
            return Err(format!("{login} is taken"));
        }
        let id = UserId(self.next_id());
        self.accounts.push(Account {
            id,
            login: Login::new(login),
            kind: AccountType::User,
            is_org: false,
            token: Some(token.to_string()),
            email: Some(format!("{}+{login}@users.noreply.github.com", id.0)),
            created_at: Utc::now(),
        });
        Ok(id)
    }

    /// A fresh id for a review, comment, status, label or pull request.
    pub fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// The git signature of an account, for commits the simulator makes on its behalf;
    /// `None` for an unknown account.
    pub fn signature_of(
        &self,
        user: UserId,
    ) -> Option<Result<git2::Signature<'static>, git2::Error>> {
        let a = self.account(user)?;
        let email = a
            .email
            .clone()
            .unwrap_or_else(|| format!("{}@users.noreply.github.com", a.login));
        Some(git2::Signature::now(a.login.as_str(), &email))
    }

    pub fn account(&self, id: UserId) -> Option<&Account> {
        self.accounts.iter().find(|a| a.id == id)
    }
    pub fn account_by_login(&self, login: &str) -> Option<&Account> {
        let login = Login::new(login);
        self.accounts.iter().find(|a| a.login == login)
    }
    pub fn account_by_token(&self, token: &str) -> Option<&Account> {
        self.accounts
            .iter()
            .find(|a| a.token.as_deref() == Some(token))
    }
    /// The account a token acts as: a user's token, or an installation token not yet
    /// expired. `None` for anything else, as GitHub's "Bad credentials".
    pub fn account_id_by_any_token(&self, token: &str, now: DateTime<Utc>) -> Option<UserId> {
        match self.account_by_token(token) {
            Some(a) => Some(a.id),
            None => self.installation_token(token, now).ok().flatten(),
        }
    }
    /// The installation a token was issued for, if it is an installation token.
    pub fn installation_of_token(&self, token: &str) -> Option<u64> {
        self.issued_tokens
            .iter()
            .find(|t| t.token == token)
            .map(|t| t.installation)
    }
    /// The bot account an installation token acts as: `Ok(None)` when it is no such token,
    /// `Err` when it was one and has expired.
    pub fn installation_token(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<UserId>, ()> {
        match self.issued_tokens.iter().find(|t| t.token == token) {
            None => Ok(None),
            Some(t) if t.expires_at > now => Ok(Some(t.bot)),
            Some(_) => Err(()),
        }
    }

    /// The app whose key signed `jwt`, when the JWT is valid now (RS256, `iss` = the app id,
    /// `exp` not past and at most 10 minutes after `iat`), or GitHub's message why not.
    pub fn app_by_jwt(&self, jwt: &str) -> Result<u64, &'static str> {
        #[derive(serde::Deserialize)]
        struct Claims {
            iss: serde_json::Value,
            iat: i64,
            exp: i64,
        }
        const UNDECODABLE: &str = "A JSON web token could not be decoded";
        let header = jsonwebtoken::decode_header(jwt).map_err(|_| UNDECODABLE)?;
        if header.alg != jsonwebtoken::Algorithm::RS256 {
            return Err(UNDECODABLE);
        }
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "iat", "iss"]);
        let mut wrong_issuer = false;
        for app in &self.apps {
            let Ok(key) = jsonwebtoken::DecodingKey::from_rsa_pem(app.public_key.as_bytes()) else {
                continue;
            };
            let data = match jsonwebtoken::decode::<Claims>(jwt, &key, &validation) {
                Ok(d) => d,
                Err(e) if matches!(e.kind(), jsonwebtoken::errors::ErrorKind::ExpiredSignature) => {
                    return Err(
                        "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires",
                    );
                }
                Err(_) => continue,
            };
            let c = data.claims;
            let iss_matches = match &c.iss {
                serde_json::Value::String(s) => s == &app.id.to_string(),
                serde_json::Value::Number(n) => n.as_u64() == Some(app.id),
                _ => false,
            };
            // GitHub finds the app by `iss` and checks the signature with its key: an app whose
            // key happens to verify (two apps of a test seed sharing one) is not the issuer.
            if !iss_matches {
                wrong_issuer = true;
                continue;
            }
            if c.exp - c.iat > 600 {
                return Err("'Expiration time' claim ('exp') is too far in the future");
            }
            return Ok(app.id);
        }
        if wrong_issuer {
            return Err("'Issuer' claim ('iss') must be an Integer");
        }
        Err(UNDECODABLE)
    }

    /// The account a commit's email belongs to, as GitHub maps commits to users: its own
    /// address, or either form of its no-reply address (`<id>+<login>@users.noreply.github.com`
    /// and the older `<login>@users.noreply.github.com`), which GitHub attributes to the
    /// account ("Setting your commit email address", docs.github.com).
    pub fn account_by_email(&self, email: &str) -> Option<&Account> {
        let by_address = self.accounts.iter().find(|a| {
            a.email
                .as_deref()
                .is_some_and(|e| e.eq_ignore_ascii_case(email))
        });
        if by_address.is_some() {
            return by_address;
        }
        let local = email
            .to_ascii_lowercase()
            .strip_suffix("@users.noreply.github.com")?
            .to_string();
        self.accounts.iter().find(|a| {
            !a.is_org
                && (local == a.login.as_str().to_ascii_lowercase()
                    || local == format!("{}+{}", a.id.0, a.login.as_str().to_ascii_lowercase()))
        })
    }
    pub fn repo_index(&self, owner: &str, name: &str) -> Option<usize> {
        let wanted = RepoName::new(owner, name).ok()?;
        self.repos.iter().position(|r| r.name == wanted)
    }
    pub fn team(&self, org: &str, slug: &str) -> Option<&Team> {
        self.teams
            .iter()
            .find(|t| t.org.eq_ignore_ascii_case(org) && t.slug.eq_ignore_ascii_case(slug))
    }
}

/// GitHub Actions, as GitHub has it: app id 15368, slug `github-actions`, its bot
/// `github-actions[bot]` (id 41898282). Its runs are made through
/// [`crate::SimHandle::actions_check_run`]; nobody holds a token of it.
pub const ACTIONS_APP_ID: u64 = 15368;
pub const ACTIONS_APP_SLUG: &str = "github-actions";
pub const ACTIONS_BOT: UserId = UserId(41_898_282);
pub const ACTIONS_BOT_LOGIN: &str = "github-actions[bot]";
/// The merge queue's bot, `github-merge-queue[bot]`.
pub const QUEUE_BOT: UserId = UserId(118_344_674);
pub const QUEUE_BOT_LOGIN: &str = "github-merge-queue[bot]";

/// When seeded accounts were registered: long before anything a test does.
fn seeded_at() -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(1_577_836_800, 0).unwrap_or_default()
}

/// The seed's users and apps (each app with its bot account), GitHub's own bots, and an
/// organisation account for every owner the seed names.
fn seeded_accounts(seed: &SimState) -> (Vec<Account>, Vec<App>) {
    let mut accounts: Vec<Account> = seed
        .users
        .iter()
        .enumerate()
        .map(|(i, u)| Account {
            id: UserId(1000 + i as u64),
            login: u.login.clone(),
            kind: u.kind,
            is_org: false,
            token: Some(u.token.clone()),
            email: Some(u.email()),
            created_at: seeded_at(),
        })
        .collect();
    let mut apps = Vec::new();
    for (i, a) in seed.apps.iter().enumerate() {
        let bot = UserId(8000 + i as u64);
        accounts.push(Account {
            id: bot,
            login: a.bot_login(),
            kind: AccountType::Bot,
            is_org: false,
            token: None,
            email: Some(format!(
                "{}+{}@users.noreply.github.com",
                bot.0,
                a.bot_login()
            )),
            created_at: seeded_at(),
        });
        apps.push(App {
            id: a.id,
            slug: a.slug.clone(),
            public_key: a.public_key.clone(),
            bot,
            installations: a
                .installations
                .iter()
                .map(|i| (i.id, i.account.clone()))
                .collect(),
            token_lifetime: chrono::Duration::seconds(
                i64::try_from(a.token_lifetime_secs).unwrap_or(i64::MAX / 1000),
            ),
            events: a.events.clone().unwrap_or_else(default_app_events),
            extra_permissions: a.extra_permissions.clone().unwrap_or_else(|| {
                BTreeMap::from([
                    ("administration".to_string(), "read".to_string()),
                    ("merge_queues".to_string(), "read".to_string()),
                ])
            }),
        });
    }
    // GitHub's own apps and bots, present on every instance: GitHub Actions (whose jobs
    // create check runs as `github-actions[bot]`) and the merge queue's bot (which creates
    // and deletes the `gh-readonly-queue/...` branches).
    accounts.push(Account {
        id: ACTIONS_BOT,
        login: Login::new(ACTIONS_BOT_LOGIN),
        kind: AccountType::Bot,
        is_org: false,
        token: None,
        email: Some(format!(
            "{}+{ACTIONS_BOT_LOGIN}@users.noreply.github.com",
            ACTIONS_BOT.0
        )),
        created_at: seeded_at(),
    });
    apps.push(App {
        id: ACTIONS_APP_ID,
        slug: ACTIONS_APP_SLUG.to_string(),
        public_key: String::new(),
        bot: ACTIONS_BOT,
        installations: vec![],
        token_lifetime: chrono::Duration::hours(1),
        events: vec![],
        extra_permissions: BTreeMap::new(),
    });
    accounts.push(Account {
        id: QUEUE_BOT,
        login: Login::new(QUEUE_BOT_LOGIN),
        kind: AccountType::Bot,
        is_org: false,
        token: None,
        email: Some(format!(
            "{}+{QUEUE_BOT_LOGIN}@users.noreply.github.com",
            QUEUE_BOT.0
        )),
        created_at: seeded_at(),
    });
    let mut org_id = 9000;
    let orgs = seed
        .teams
        .iter()
        .map(|t| t.org.clone())
        .chain(seed.repos.iter().map(|r| r.name.owner().to_string()));
    for org in orgs {
        let login = Login::new(org);
        if !accounts.iter().any(|a| a.login == login) {
            accounts.push(Account {
                id: UserId(org_id),
                login,
                kind: AccountType::User,
                is_org: true,
                token: None,
                email: None,
                created_at: seeded_at(),
            });
            org_id += 1;
        }
    }
    (accounts, apps)
}

fn id_of(accounts: &[Account], l: &Login) -> Option<UserId> {
    accounts.iter().find(|a| &a.login == l).map(|a| a.id)
}

/// One seeded repository: its people, its protection, and where its git lives.
fn seeded_repo(
    i: usize,
    r: &crate::seed::SeedRepo,
    accounts: &[Account],
    apps: &[App],
    data_dir: &Path,
    now: chrono::DateTime<Utc>,
) -> Repo {
    Repo {
        id: 500_000 + i as u64,
        owner: id_of(accounts, &Login::new(r.name.owner())).unwrap_or(UserId(0)),
        name: r.name.clone(),
        default_branch: r.default_branch.clone(),
        admins: r.admins.iter().filter_map(|l| id_of(accounts, l)).collect(),
        writers: r
            .writers
            .iter()
            .filter_map(|l| id_of(accounts, l))
            .chain(
                apps.iter()
                    .filter(|a| {
                        a.installations
                            .iter()
                            .any(|(_, acc)| acc.eq_ignore_ascii_case(r.name.owner()))
                    })
                    .map(|a| a.bot),
            )
            .collect(),
        required_contexts: r
            .required_contexts
            .iter()
            .cloned()
            .chain(r.required_checks.iter().map(|c| c.context.clone()))
            .fold(Vec::new(), |mut acc, c| {
                if !acc.contains(&c) {
                    acc.push(c);
                }
                acc
            }),
        // An app the seed does not define is an account nobody acts as: nothing
        // satisfies a context pinned to it.
        required_sources: r
            .required_checks
            .iter()
            .filter_map(|c| {
                let app = c.app_id?;
                let bot = apps
                    .iter()
                    .find(|a| a.id == app)
                    .map_or(UserId(0), |a| a.bot);
                Some((c.context.clone(), bot))
            })
            .collect(),
        required_apps: r
            .required_checks
            .iter()
            .filter_map(|c| Some((c.context.clone(), c.app_id?)))
            .collect(),
        enforce_admins: r.enforce_admins,
        merge_queue: r.merge_queue,
        queue_timeout: chrono::Duration::from_std(r.queue_check_timeout())
            .unwrap_or(chrono::Duration::hours(1)),
        queue: vec![],
        git_dir: data_dir
            .join(r.name.owner())
            .join(format!("{}.git", r.name.name())),
        created_at: now,
        pushed_at: now,
        pulls: vec![],
        statuses: vec![],
        check_runs: vec![],
        labels: vec![],
        known_refs: BTreeMap::new(),
        activity: vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_no_reply_forms_map_to_the_account_and_github_bots_are_built_in() {
        let seed = SimState::from_toml(
            "[[users]]\nlogin = \"alice\"\ntoken = \"a\"\nemail = \"alice@example.com\"\n",
        )
        .unwrap();
        let w = World::from_seed(&seed, Path::new("/nonexistent"));
        let alice = w.account_by_login("alice").unwrap().id;
        for email in [
            "alice@example.com",
            "ALICE@users.noreply.github.com",
            "1000+alice@users.noreply.github.com",
        ] {
            assert_eq!(
                w.account_by_email(email).map(|a| a.id),
                Some(alice),
                "{email}"
            );
        }
        assert!(
            w.account_by_email("1001+alice@users.noreply.github.com")
                .is_none()
        );
        assert!(w.account_by_email("alice@elsewhere.example").is_none());
        let actions = w.account_by_login(ACTIONS_BOT_LOGIN).unwrap();
        assert_eq!((actions.id, actions.kind), (ACTIONS_BOT, AccountType::Bot));
        assert!(
            w.apps
                .iter()
                .any(|a| a.id == ACTIONS_APP_ID && a.bot == ACTIONS_BOT)
        );
        assert!(w.account_by_login(QUEUE_BOT_LOGIN).is_some());
    }
}
