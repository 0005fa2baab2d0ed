//! The record in `refs/notes/prgate` (version 2: a DSSE envelope around an in-toto statement;
//! version 1: one JSON object), read from a clone whose notes anyone with push access may have
//! rewritten, through the pure parser `parse_note`. Whatever parses must encode and parse back
//! to the same record.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prgate::record::note::ExecutionNote;
use prgate::record::read::parse_note;
use prgate::record::signing::encode_note;

/// The record without the envelope it was read from (its exact bytes and signatures), which
/// encoding writes anew.
fn content(mut note: ExecutionNote) -> ExecutionNote {
    if let Some(f) = note.v2.as_mut() {
        f.sealed = None;
    }
    note
}

fuzz_target!(|data: &[u8]| {
    if let Ok(note) = parse_note("fuzz", data) {
        let note = content(note);
        let text = encode_note(&note, None).expect("a parsed record encodes");
        let back = parse_note("fuzz", text.as_bytes()).expect("an encoded record parses");
        assert_eq!(content(back), note);
    }
});
