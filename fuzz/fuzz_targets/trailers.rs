//! Merge-commit trailers (`Prgate-Pull`, `Prgate-Head`, `Approved-by`, …), read from commit
//! messages anyone with push access can write. Whatever parses must print back to trailers
//! that parse to the same record.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prgate::record::trailers::ApprovalTrailers;

fuzz_target!(|data: &[u8]| {
    let Ok(message) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(Some(t)) = ApprovalTrailers::read(message) {
        let again = format!("title\n\n{}", t.to_trailer_block());
        assert_eq!(ApprovalTrailers::parse(&again), Some(t));
    }
});
