//! The record in `refs/notes/prgate`, read from a clone whose notes anyone with push access
//! may have rewritten. Whatever parses must serialise and parse back to the same record.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prgate::record::note::ExecutionNote;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(note) = ExecutionNote::from_json("fuzz", text) {
        let json = note.to_json().expect("a parsed note serialises");
        assert_eq!(ExecutionNote::from_json("fuzz", &json).ok(), Some(note));
    }
});
