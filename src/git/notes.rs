//! Notes I/O: writing and reading prgate's record (the format is `crate::record::note`) as a
//! git note under `refs/notes/prgate`, pushing the notes ref without ever forcing it, and
//! adopting the notes fetched from the remote.

use git2::{Oid, Repository, Signature};

use crate::config::Secret;
use crate::record::envelope::note_digest;
use crate::record::note::{
    ExecutionNote, NOTES_REF, NoteError, PreviousRecord, Sha256Digest, recorded_at,
};
use crate::record::read::parse_note;

/// Where the remote's notes are fetched to when a push needs them merged in first.
const REMOTE_NOTES_REF: &str = "refs/prgate/notes-remote";

fn signature() -> Result<Signature<'static>, git2::Error> {
    Signature::now("prgate", "prgate@localhost")
}

/// Writes (or replaces) the note on `commit`, unsigned, in the format of its version (the
/// executor signs with `write_note_text`). Replacing is deliberate: the record grows from the
/// decision to the execution result, and each write is the newest knowledge about it.
pub fn write_note(repo: &Repository, commit: Oid, note: &ExecutionNote) -> Result<Oid, NoteError> {
    let text = crate::record::signing::encode_note(note, None).map_err(|e| NoteError::Encode {
        commit: commit.to_string(),
        message: e.to_string(),
    })?;
    write_note_text(repo, commit, &text)
}

/// Writes (or replaces) the note on `commit` with exactly `text`.
pub fn write_note_text(repo: &Repository, commit: Oid, text: &str) -> Result<Oid, NoteError> {
    let git = |source| NoteError::Git {
        commit: commit.to_string(),
        source,
    };
    let sig = signature().map_err(git)?;
    repo.note(&sig, &sig, Some(NOTES_REF), commit, text, true)
        .map_err(git)
}

/// The note's text on `commit` exactly as stored; `None` when there is none.
pub fn read_note_bytes(repo: &Repository, commit: Oid) -> Result<Option<Vec<u8>>, NoteError> {
    match repo.find_note(Some(NOTES_REF), commit) {
        Ok(n) => Ok(Some(n.message_bytes().to_vec())),
        Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
        Err(source) => Err(NoteError::Git {
            commit: commit.to_string(),
            source,
        }),
    }
}

/// The record a new record on a commit whose first parent is `parent` is chained to: the
/// nearest commit on the first-parent history from `parent` (itself included) that carries a
/// note, with the sha256 of that note's text. `None` when no commit back to the root has one.
/// No depth cap: a cap would chain a record to nothing while a predecessor exists, which
/// `audit` reports as a break.
pub fn previous_record(
    repo: &Repository,
    parent: Oid,
) -> Result<Option<PreviousRecord>, NoteError> {
    let git = |source| NoteError::Git {
        commit: parent.to_string(),
        source,
    };
    let notes = match repo.notes(Some(NOTES_REF)) {
        Ok(it) => it
            .map(|r| r.map(|(blob, annotated)| (annotated, blob)))
            .collect::<Result<std::collections::HashMap<Oid, Oid>, _>>()
            .map_err(git)?,
        Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(None),
        Err(e) => return Err(git(e)),
    };
    let mut current = Some(parent);
    while let Some(c) = current {
        if let Some(blob) = notes.get(&c) {
            let text = repo.find_blob(*blob).map_err(git)?;
            let Ok(commit) = c.to_string().parse() else {
                return Ok(None);
            };
            return Ok(Some(PreviousRecord {
                commit,
                digest: Sha256Digest {
                    sha256: note_digest(text.content()),
                },
            }));
        }
        let commit = repo.find_commit(c).map_err(git)?;
        current = commit.parent_ids().next();
    }
    Ok(None)
}

/// Reads the note on `commit`: `Ok(None)` when there is none, an error (never a panic) when
/// there is one that is not a prgate record this version reads.
pub fn read_note(repo: &Repository, commit: Oid) -> Result<Option<ExecutionNote>, NoteError> {
    read_note_at(repo, NOTES_REF, commit)
}

fn read_note_at(
    repo: &Repository,
    notes_ref: &str,
    commit: Oid,
) -> Result<Option<ExecutionNote>, NoteError> {
    let note = match repo.find_note(Some(notes_ref), commit) {
        Ok(n) => n,
        Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(None),
        Err(source) => {
            return Err(NoteError::Git {
                commit: commit.to_string(),
                source,
            });
        }
    };
    parse_note(&commit.to_string(), note.message_bytes()).map(Some)
}

/// Pushes `refs/notes/prgate` to `url`. Never forced: when another replica has pushed notes
/// meanwhile, theirs are fetched and ours are replayed on top (ours win for a commit both
/// annotated, as the claim makes this replica the one executing it), then the push is retried.
pub fn push_notes(
    repo: &Repository,
    url: &str,
    token: Option<&Secret>,
    trusted: &dyn Fn(&ExecutionNote) -> bool,
) -> Result<(), NoteError> {
    const ATTEMPTS: usize = 3;
    let mut last = String::new();
    for _ in 0..ATTEMPTS {
        match push_once(repo, url, token) {
            Ok(()) => return Ok(()),
            Err(message) => last = message,
        }
        merge_remote_notes(repo, url, token, trusted)?;
    }
    Err(NoteError::Push {
        url: url.to_string(),
        message: last,
    })
}

fn push_once(repo: &Repository, url: &str, token: Option<&Secret>) -> Result<(), String> {
    match crate::git::push_refspec(repo, url, &format!("{NOTES_REF}:{NOTES_REF}"), token) {
        Ok(None) => Ok(()),
        Ok(Some(rejection)) => Err(rejection),
        Err(e) => Err(e.message().to_string()),
    }
}

/// Fetches the remote's notes and replays every local note the remote lacks (or has
/// differently) on top of them, so that the next push is a fast-forward.
fn merge_remote_notes(
    repo: &Repository,
    url: &str,
    token: Option<&Secret>,
    trusted: &dyn Fn(&ExecutionNote) -> bool,
) -> Result<(), NoteError> {
    let push_err = |message: String| NoteError::Push {
        url: url.to_string(),
        message,
    };
    let mut remote = repo
        .remote_anonymous(url)
        .map_err(|e| push_err(e.message().to_string()))?;
    let mut opts = git2::FetchOptions::new();
    opts.remote_callbacks(crate::git::callbacks(token));
    remote
        .fetch(
            &[format!("+{NOTES_REF}:{REMOTE_NOTES_REF}")],
            Some(&mut opts),
            None,
        )
        .map_err(|e| {
            push_err(format!(
                "fetching the remote's notes to merge them: {}",
                e.message()
            ))
        })?;
    let git = |source| NoteError::Git {
        commit: NOTES_REF.to_string(),
        source,
    };
    if repo.find_reference(REMOTE_NOTES_REF).is_err() {
        // The remote has no notes at all; the push failed for another reason.
        return Ok(());
    }
    let sig = signature().map_err(git)?;
    let ours: Vec<(Oid, Oid)> = match repo.notes(Some(NOTES_REF)) {
        Ok(iter) => iter.collect::<Result<_, _>>().map_err(git)?,
        Err(e) if e.code() == git2::ErrorCode::NotFound => Vec::new(),
        Err(e) => return Err(git(e)),
    };
    for (note_blob, annotated) in ours {
        let ours_text = repo.find_blob(note_blob).map_err(git)?.content().to_vec();
        let theirs_text = repo
            .find_note(Some(REMOTE_NOTES_REF), annotated)
            .ok()
            .map(|n| n.message_bytes().to_vec());
        // Another replica's later record of the same commit (its run's end over the
        // provisional `interrupted` this mirror adopted) is kept: replaying an older record
        // over it would roll the run back. An older, unreadable or untrusted one (a writer's,
        // however late it says it was written) is replaced by ours.
        let newer_remote = theirs_text.as_deref().is_some_and(|theirs| {
            let commit = annotated.to_string();
            let parse =
                |b: &[u8]| ExecutionNote::from_json(&commit, &String::from_utf8_lossy(b)).ok();
            match (parse(theirs), parse(&ours_text)) {
                (Some(t), Some(o)) => trusted(&t) && recorded_at(&t) > recorded_at(&o),
                _ => false,
            }
        });
        if theirs_text.as_deref() != Some(ours_text.as_slice()) && !newer_remote {
            let text = String::from_utf8_lossy(&ours_text);
            repo.note(&sig, &sig, Some(REMOTE_NOTES_REF), annotated, &text, true)
                .map_err(git)?;
        }
    }
    let merged = repo.refname_to_id(REMOTE_NOTES_REF).map_err(git)?;
    repo.reference(
        NOTES_REF,
        merged,
        true,
        "prgate: notes merged with the remote's",
    )
    .map_err(git)?;
    Ok(())
}

/// Where the mirror fetches the remote's notes: beside, never over, the executor's own
/// `refs/notes/prgate`, so that a writer who rewrites or empties the remote's notes cannot
/// erase what prgate wrote.
pub const FETCHED_NOTES_REF: &str = "refs/prgate/remote-notes/prgate";

/// The note the remote had on `commit` at the last fetch (whoever wrote it), read apart from
/// prgate's own notes.
pub fn read_fetched_note(
    repo: &Repository,
    commit: Oid,
) -> Result<Option<ExecutionNote>, NoteError> {
    read_note_at(repo, FETCHED_NOTES_REF, commit)
}

/// Takes the remote's notes (just fetched to [`FETCHED_NOTES_REF`]) into the local notes: a
/// record that `trusted` accepts (signed by prgate's key, not dated in the future) for a
/// commit the local notes lack (only when `adopt_unknown`: without a signing key nothing
/// says a note for a commit prgate has no record of is prgate's), or newer than the local one
/// (another replica's or an operator's later write), is adopted; anything else — a writer's note above all — is never
/// adopted, so it can never make the executor skip a run. Any other difference keeps the
/// local record. Returns the commits whose local record the remote lacks or has otherwise, which
/// the caller pushes again: a rewritten or rolled-back notes ref is restored.
pub(crate) fn adopt_fetched_notes(
    repo: &Repository,
    trusted: &dyn Fn(&ExecutionNote) -> bool,
    adopt_unknown: bool,
) -> Result<Vec<Oid>, NoteError> {
    let git = |source| NoteError::Git {
        commit: NOTES_REF.to_string(),
        source,
    };
    let list = |r: &str| -> Result<Vec<(Oid, Oid)>, NoteError> {
        match repo.notes(Some(r)) {
            Ok(iter) => iter.collect::<Result<Vec<_>, _>>().map_err(git),
            Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(Vec::new()),
            Err(e) => Err(git(e)),
        }
    };
    let text_of = |blob: Oid| -> Result<String, NoteError> {
        Ok(String::from_utf8_lossy(repo.find_blob(blob).map_err(git)?.content()).into_owned())
    };
    let theirs = list(FETCHED_NOTES_REF)?;
    let ours = list(NOTES_REF)?;
    let sig = signature().map_err(git)?;
    let mut restore = Vec::new();
    for (their_blob, commit) in &theirs {
        let their_text = text_of(*their_blob)?;
        let Some((our_blob, _)) = ours.iter().find(|(_, c)| c == commit) else {
            let ours_to_take = adopt_unknown
                && ExecutionNote::from_json(&commit.to_string(), &their_text)
                    .is_ok_and(|t| t.merge.as_str() == commit.to_string() && trusted(&t));
            if ours_to_take {
                repo.note(&sig, &sig, Some(NOTES_REF), *commit, &their_text, true)
                    .map_err(git)?;
            }
            continue;
        };
        let our_text = text_of(*our_blob)?;
        if our_text == their_text {
            continue;
        }
        let id = commit.to_string();
        let newer = match (
            ExecutionNote::from_json(&id, &their_text),
            ExecutionNote::from_json(&id, &our_text),
        ) {
            (Ok(t), Ok(o)) => {
                t.merge.as_str() == id && trusted(&t) && recorded_at(&t) > recorded_at(&o)
            }
            (Ok(t), Err(_)) => t.merge.as_str() == id && trusted(&t),
            _ => false,
        };
        if newer {
            repo.note(&sig, &sig, Some(NOTES_REF), *commit, &their_text, true)
                .map_err(git)?;
        } else {
            restore.push(*commit);
        }
    }
    for (_, commit) in &ours {
        if !theirs.iter().any(|(_, c)| c == commit) {
            restore.push(*commit);
        }
    }
    Ok(restore)
}
