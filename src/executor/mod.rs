//! The post-merge executor: re-verifies that a merge commit carries exactly the approved
//! content, runs the configured action once in a fresh checkout with its secrets released only
//! then, and records the result as a note in git. The pieces here are local (git and processes);
//! the code host side (finding the PR, claiming the merge) is wired in by the gate.

pub mod blocking;
pub mod carried;
pub mod equivalence;
pub mod git_env;
pub mod history;
pub mod instance;
pub mod note;
pub mod redact;
pub mod run;
pub mod run_status;
pub mod service;
pub mod signing;
pub mod worktree;
pub use run::{RunResult, RunSpec, run_executor};
pub use worktree::{Checkout, WorktreeError, checkout_fresh, sync_mirror};

pub use note::{
    ExecutionNote, ExecutionRecord, NOTES_REF, NoteApproval, NoteError, Outcome, push_notes,
    read_note, write_note,
};

pub use signing::{
    NoteSignature, SignatureCheck, check_signature, parse_public_key_arg, sign_note,
};

pub use equivalence::{Equivalence, MergeKind, check_content};
