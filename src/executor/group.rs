//! The content of a merge-queue group, read from the mirror: GitHub builds each group commit as
//! the merge of one PR's head onto the group before it (the first onto the base), so the group
//! is right only if every step is exactly that clean merge (DESIGN "Merge queues").

use git2::{Oid, Repository};

use super::engine::Executor;
use super::error::ExecError;
use crate::types::{CommitSha, RepoName};

/// Steps a group may hold: GitHub's own limit on a merge group is 100 PRs.
const MAX_GROUP: usize = 100;

/// One PR's step in a group: the group commit and the PR head it merged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupStep {
    pub commit: CommitSha,
    /// Its first parent: the base tip or the group step ahead.
    pub base: CommitSha,
    pub head: CommitSha,
}

/// What the group's commits hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupContent {
    /// Each step is the clean merge of its PR head onto the step before, oldest first.
    Steps(Vec<GroupStep>),
    /// Something else: what and where.
    Differs(String),
}

impl Executor {
    /// Syncs the mirror and reads the group from `base` to `head`.
    pub(crate) async fn group_content(
        &self,
        repo: &RepoName,
        base: &CommitSha,
        head: &CommitSha,
    ) -> Result<GroupContent, ExecError> {
        let (mirror, _) = self.mirror(repo).await?;
        let (base, head) = (base.clone(), head.clone());
        let repo_name = repo.clone();
        let dir = mirror.path().to_path_buf();
        drop(mirror);
        tokio::task::spawn_blocking(move || {
            let mirror = Repository::open_bare(&dir).map_err(Self::git_err(&repo_name))?;
            read_group(&mirror, &base, &head).map_err(Self::git_err(&repo_name))
        })
        .await
        .map_err(|source| ExecError::Task {
            what: "reading a merge group",
            source,
        })?
    }
}

/// Walks first parents from `head` back to `base` and checks each step's tree against the
/// clean merge of its second parent onto its first.
fn read_group(
    repo: &Repository,
    base: &CommitSha,
    head: &CommitSha,
) -> Result<GroupContent, git2::Error> {
    let base = Oid::from_str(base.as_str())?;
    let mut at = Oid::from_str(head.as_str())?;
    let mut steps = Vec::new();
    while at != base {
        if steps.len() >= MAX_GROUP {
            return Ok(GroupContent::Differs(format!(
                "the group does not lead back to its base {} within {MAX_GROUP} commits",
                short(base)
            )));
        }
        let c = repo.find_commit(at)?;
        if c.parent_count() != 2 {
            return Ok(GroupContent::Differs(format!(
                "group commit {} has {} parents, not the base and one PR head",
                short(at),
                c.parent_count()
            )));
        }
        steps.push(c);
        at = steps[steps.len() - 1].parent_id(0)?;
    }
    steps.reverse();
    let mut out = Vec::with_capacity(steps.len());
    for c in steps {
        let (ours, theirs) = (c.parent(0)?, c.parent(1)?);
        let mut index = repo.merge_commits(&ours, &theirs, None)?;
        if index.has_conflicts() {
            return Ok(GroupContent::Differs(format!(
                "PR head {} does not merge cleanly onto {}",
                short(theirs.id()),
                short(ours.id())
            )));
        }
        let tree = index.write_tree_to(repo)?;
        if tree != c.tree_id() {
            return Ok(GroupContent::Differs(format!(
                "group commit {} holds other content than the merge of PR head {} onto {}",
                short(c.id()),
                short(theirs.id()),
                short(ours.id())
            )));
        }
        let sha = |o: Oid| {
            o.to_string()
                .parse::<CommitSha>()
                .map_err(|e| git2::Error::from_str(&e.to_string()))
        };
        out.push(GroupStep {
            commit: sha(c.id())?,
            base: sha(ours.id())?,
            head: sha(theirs.id())?,
        });
    }
    Ok(GroupContent::Steps(out))
}

/// The 7-character form people see in GitHub's UI.
fn short(o: Oid) -> String {
    o.to_string()[..7].to_string()
}
