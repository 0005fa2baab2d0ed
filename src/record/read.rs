//! Reading a record from a note's bytes alone (pure: no I/O, never a panic): a DSSE envelope
//! is a version 2 record, whose statement `super::statement` reads; anything else must be a
//! version 1 note (`super::note`).

use super::note::{ExecutionNote, NoteError};

/// Reads a note's exact bytes (pure: no I/O, never a panic): a DSSE envelope is a version 2
/// record, anything else must be a version 1 note. `commit` names the annotated commit in
/// errors. Signatures are kept as read and checked by `super::signing::check_signature`.
pub fn parse_note(commit: &str, bytes: &[u8]) -> Result<ExecutionNote, NoteError> {
    if super::envelope::looks_like_envelope(bytes) {
        let opened = super::envelope::open(bytes).map_err(|message| NoteError::NotOurs {
            commit: commit.to_string(),
            message,
        })?;
        let mut note = super::statement::parse_statement(commit, &opened.payload)?;
        if let Some(facts) = note.v2.as_mut() {
            facts.sealed = Some(opened);
        }
        return Ok(note);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| NoteError::NotOurs {
        commit: commit.to_string(),
        message: "the note is not UTF-8 text".into(),
    })?;
    ExecutionNote::from_json_v1(commit, text)
}

impl ExecutionNote {
    /// Parses a note's text, of either version (see [`parse_note`]).
    pub(crate) fn from_json(commit: &str, text: &str) -> Result<ExecutionNote, NoteError> {
        parse_note(commit, text.as_bytes())
    }
}
