//! Redaction of secret values from an executor's output stream: the value as is, and the
//! encodings a command prints without meaning harm (base64 at any alignment, hex, percent
//! encoding), also when broken across lines. A safety net, not a boundary: docs/executor.md
//! says what it cannot catch.
//!
//! Hand-written matching: the forms allow a line break between any two characters and a
//! percent escape for any byte, which a regex crate could express only as huge patterns, and
//! the stream needs "is a match still possible here" answers that no matcher crate gives.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// What a secret value is replaced with in captured output.
pub const REDACTED: &str = "[REDACTED]";

/// Encoded forms shorter than this many characters are not searched for: they would match
/// ordinary output, and a secret that short has no strength to protect.
const MIN_ENCODED_CHARS: usize = 8;

/// One way a secret can appear in output: a sequence of units (a byte of the secret, or a
/// character of its encoding), each of which may be written in any of a few ways, with an
/// optional line break (`\n` or `\r\n`) between any two characters, also inside `%XX`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Form {
    units: Vec<Vec<Vec<u8>>>,
}

impl Form {
    /// The longest run of bytes this form can match.
    fn max_len(&self) -> usize {
        let chars: usize = self
            .units
            .iter()
            .map(|alts| alts.iter().map(Vec::len).max().unwrap_or(0))
            .sum();
        chars + 2 * chars.saturating_sub(1)
    }

    /// The end of the longest match of this form starting at `start`, if any. Every way of
    /// reading the data is followed at once (a secret may itself hold `%` or a line break),
    /// as a set of positions reached so far.
    fn longest_match(&self, data: &[u8], start: usize) -> Option<usize> {
        let mut frontier = vec![start];
        let mut next = Vec::new();
        for (i, alts) in self.units.iter().enumerate() {
            next.clear();
            for &at in &frontier {
                for alt in alts {
                    read_text(data, at, alt, i > 0, &mut next);
                }
            }
            if next.is_empty() {
                return None;
            }
            next.sort_unstable();
            next.dedup();
            std::mem::swap(&mut frontier, &mut next);
        }
        frontier.last().copied()
    }
}

/// Pushes to `ends` every position after `text` read at `at`, with an optional line break
/// before each of its characters (before the first only when `may_break`).
fn read_text(data: &[u8], at: usize, text: &[u8], may_break: bool, ends: &mut Vec<usize>) {
    let Some((&c, rest)) = text.split_first() else {
        ends.push(at);
        return;
    };
    let tail = data.get(at..).unwrap_or_default();
    let mut from = [Some(at), None];
    if may_break {
        if tail.starts_with(b"\n") {
            from[1] = Some(at + 1);
        } else if tail.starts_with(b"\r\n") {
            from[1] = Some(at + 2);
        }
    }
    for p in from.into_iter().flatten() {
        if data.get(p) == Some(&c) {
            read_text(data, p + 1, rest, true, ends);
        }
    }
}

/// Every byte as itself or percent-encoded (either case; `+` for a space, `\r\n` for `\n`).
fn plain_or_percent(secret: &[u8]) -> Form {
    let units = secret
        .iter()
        .map(|&b| {
            let mut alts = vec![vec![b]];
            for escaped in [format!("%{b:02X}"), format!("%{b:02x}")] {
                let escaped = escaped.into_bytes();
                if !alts.contains(&escaped) {
                    alts.push(escaped);
                }
            }
            match b {
                b' ' => alts.push(b"+".to_vec()),
                b'\n' => alts.push(b"\r\n".to_vec()),
                _ => {}
            }
            alts
        })
        .collect();
    Form { units }
}

/// Text in which each letter may be upper or lower case (hex digits).
fn any_case(text: &str) -> Form {
    let units = text
        .bytes()
        .map(|c| {
            let (lower, upper) = (c.to_ascii_lowercase(), c.to_ascii_uppercase());
            if lower == upper {
                vec![vec![c]]
            } else {
                vec![vec![lower], vec![upper]]
            }
        })
        .collect();
    Form { units }
}

/// Standard base64 text read in either alphabet (URL-safe has `-` and `_` for `+` and `/`).
fn either_base64_alphabet(text: &str) -> Form {
    let units = text
        .bytes()
        .map(|c| match c {
            b'+' => vec![vec![b'+'], vec![b'-']],
            b'/' => vec![vec![b'/'], vec![b'_']],
            _ => vec![vec![c]],
        })
        .collect();
    Form { units }
}

/// The base64 forms of `secret`. Inside a longer blob the secret starts at byte offset 0, 1 or
/// 2 of a 3-byte group, and each alignment encodes it differently; the characters that also
/// hold bits of the neighbouring bytes are left out, as they depend on what surrounds it.
/// The whole encoding, with and without padding, covers a secret encoded on its own.
fn base64_forms(secret: &[u8]) -> Vec<Form> {
    let n = secret.len();
    let mut texts = Vec::new();
    for offset in 0..3usize {
        let mut aligned = vec![0u8; offset];
        aligned.extend_from_slice(secret);
        let encoded = STANDARD.encode(&aligned);
        let first = (8 * offset).div_ceil(6);
        let end = (8 * (offset + n)) / 6;
        if let Some(core) = encoded.get(first..end) {
            texts.push(core.to_string());
        }
    }
    let whole = STANDARD.encode(secret);
    texts.push(whole.trim_end_matches('=').to_string());
    texts.push(whole);
    texts
        .iter()
        .filter(|t| t.len() >= MIN_ENCODED_CHARS)
        .map(|t| either_base64_alphabet(t))
        .collect()
}

/// Every form of every secret, compiled once per run.
#[derive(Debug, Default)]
pub struct SecretForms {
    forms: Vec<Form>,
    /// Per form, the bytes a match can start with: a form is tried only where it can start.
    first_bytes: Vec<[bool; 256]>,
    /// The longest match any form can make.
    max_len: usize,
}

impl SecretForms {
    /// The forms of the non-empty `secrets`.
    pub fn new<S: AsRef<[u8]>>(secrets: &[S]) -> Self {
        let mut forms: Vec<Form> = Vec::new();
        for secret in secrets.iter().map(AsRef::as_ref).filter(|s| !s.is_empty()) {
            forms.push(plain_or_percent(secret));
            let hex = hex::encode(secret);
            if hex.len() >= MIN_ENCODED_CHARS {
                forms.push(any_case(&hex));
            }
            forms.extend(base64_forms(secret));
        }
        let mut unique: Vec<Form> = Vec::with_capacity(forms.len());
        for f in forms {
            if !unique.contains(&f) {
                unique.push(f);
            }
        }
        let first_bytes = unique
            .iter()
            .map(|f| {
                let mut first = [false; 256];
                for alt in f.units.first().into_iter().flatten() {
                    if let Some(&b) = alt.first() {
                        first[usize::from(b)] = true;
                    }
                }
                first
            })
            .collect();
        let max_len = unique.iter().map(Form::max_len).max().unwrap_or(0);
        SecretForms {
            forms: unique,
            first_bytes,
            max_len,
        }
    }

    /// The end of the longest match of any form starting at `start`.
    fn longest_match(&self, data: &[u8], start: usize) -> Option<usize> {
        let first = usize::from(*data.get(start)?);
        self.forms
            .iter()
            .zip(&self.first_bytes)
            .filter(|(_, starts)| starts[first])
            .filter_map(|(f, _)| f.longest_match(data, start))
            .max()
    }
}

/// Replaces secrets in a stream given in chunks of any size. It decides about a position only
/// once every match that could start there has been seen whole, so it holds back the last
/// `longest form - 1` bytes until more data arrives. Overlapping matches become one marker.
#[derive(Debug)]
pub struct Redactor {
    forms: std::sync::Arc<SecretForms>,
    pending: Vec<u8>,
    /// Leading bytes of `pending` that a marker already written stands for.
    covered: usize,
}

impl Redactor {
    pub fn new(forms: std::sync::Arc<SecretForms>) -> Self {
        Redactor {
            forms,
            pending: Vec::new(),
            covered: 0,
        }
    }

    /// Takes the next chunk; returns the redacted output that is decided so far.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        self.pending.extend_from_slice(chunk);
        self.drain(false)
    }

    /// The end of the stream: returns the rest of the redacted output.
    pub fn finish(&mut self) -> Vec<u8> {
        self.drain(true)
    }

    fn drain(&mut self, at_end: bool) -> Vec<u8> {
        let len = self.pending.len();
        let decided = if at_end {
            len
        } else {
            len.saturating_sub(self.forms.max_len.saturating_sub(1))
        };
        let mut out = Vec::with_capacity(decided);
        let mut covered = self.covered;
        for start in 0..decided {
            // Every position before `covered` is written out already, as itself or inside
            // a marker; so a match at `covered` opens a marker, and one before it extends it.
            if let Some(end) = self.forms.longest_match(&self.pending, start) {
                if start >= covered {
                    out.extend_from_slice(REDACTED.as_bytes());
                }
                covered = covered.max(end);
            } else if start >= covered {
                out.push(self.pending[start]);
                covered = start + 1;
            }
        }
        self.pending.drain(..decided);
        self.covered = covered.saturating_sub(decided);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_secrets_get_only_the_plain_form() {
        let forms = SecretForms::new(&["abc"]);
        assert_eq!(forms.forms.len(), 1, "{forms:?}");
    }

    #[test]
    fn the_hold_back_is_the_longest_form() {
        let forms = SecretForms::new(&["abcd"]);
        // %XX for each of 4 bytes and a \r\n between each two characters.
        assert_eq!(forms.max_len, 4 * 3 + (4 * 3 - 1) * 2);
    }

    #[test]
    fn a_line_break_is_read_between_characters_but_never_before_the_first() {
        let form = plain_or_percent(b"ab");
        assert_eq!(form.longest_match(b"a\r\nb!", 0), Some(4));
        assert_eq!(form.longest_match(b"%6\n1b", 0), Some(5));
        assert_eq!(form.longest_match(b"\nab", 0), None);
        assert_eq!(form.longest_match(b"a\n\nb", 0), None);
    }
}
