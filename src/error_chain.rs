//! An error and its causes on one line (`what failed: why: why`), so that a log or a message
//! shows the whole chain while library errors keep their causes typed (`#[source]`).
//!
//! Hand-written because anyhow's `{:#}` needs an owned `anyhow::Error`, and these are borrowed
//! fields inside our own error types.

use std::error::Error;

/// A boxed cause, for errors from libraries whose own error types we do not name.
pub type BoxError = Box<dyn Error + Send + Sync + 'static>;

/// `err`'s message followed by each source's, joined by ": ". A source whose message the text
/// already ends with (many libraries repeat their source in their own message) is not repeated.
pub fn chain<E: Error + ?Sized>(err: &E) -> String {
    let mut text = err.to_string();
    let mut next = err.source();
    while let Some(cause) = next {
        let message = cause.to_string();
        if !message.is_empty() && !text.ends_with(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        next = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] Middle);

    #[derive(Debug, thiserror::Error)]
    #[error("middle: {0}")]
    struct Middle(#[source] std::io::Error);

    #[test]
    fn every_cause_is_shown_once() {
        let e = Outer(Middle(std::io::Error::other("refused")));
        assert_eq!(chain(&e), "outer: middle: refused");
    }
}
