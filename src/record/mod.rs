//! The approval record, in one place for everyone who writes or reads it (the gate, the
//! executor, `verify` and `audit`): the merge commit's trailers, the note under
//! `refs/notes/prgate` (version 2: a DSSE envelope around an in-toto statement; version 1
//! still read), its signature, the check that a merge carries exactly the approved content,
//! and the `prgate/execution` statuses that record each run on the code host. Formats and
//! checks only: reading and writing notes in a repository is `crate::git`'s.

pub mod envelope;
pub mod equivalence;
pub mod note;
pub mod read;
pub(crate) mod run_status;
pub mod signing;
pub(crate) mod statement;
pub mod trailers;
