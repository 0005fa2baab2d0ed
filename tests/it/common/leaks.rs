//! The judge of redaction tests: can any 8 bytes of a secret be read back from a text by
//! removing line breaks and decoding what looks like base64 (either alphabet, any alignment),
//! hex or percent escapes? Independent of the redactor's own idea of the encodings.

use base64::Engine;

pub fn recoverable(text: &str, secret: &[u8]) -> bool {
    let joined: Vec<u8> = text
        .bytes()
        .filter(|b| *b != b'\n' && *b != b'\r')
        .collect();
    let windows: Vec<&[u8]> = secret.windows(8.min(secret.len())).collect();
    let holds = |hay: &[u8]| {
        windows
            .iter()
            .any(|w| hay.windows(w.len()).any(|h| h == *w))
    };
    if holds(&joined) || holds(&percent_decode(&joined)) {
        return true;
    }
    let lenient = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let is_b64 = |b: &u8| b.is_ascii_alphanumeric() || b"+/-_".contains(b);
    for run in joined.split(|b| !is_b64(b)) {
        let std: Vec<u8> = run
            .iter()
            .map(|&b| match b {
                b'-' => b'+',
                b'_' => b'/',
                b => b,
            })
            .collect();
        for skip in 0..4.min(std.len()) {
            let mut part = &std[skip..];
            if part.len() % 4 == 1 {
                part = &part[..part.len() - 1];
            }
            if lenient.decode(part).is_ok_and(|d| holds(&d)) {
                return true;
            }
        }
    }
    for run in joined.split(|b| !b.is_ascii_hexdigit()) {
        for skip in 0..2.min(run.len()) {
            let part = &run[skip..];
            let part = &part[..part.len() / 2 * 2];
            if hex::decode(part).is_ok_and(|d| holds(&d)) {
                return true;
            }
        }
    }
    false
}

/// `%XX` escapes decoded and `+` read as a space; anything else kept.
pub fn percent_decode(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        if data[i] == b'%'
            && let Some(b) = data
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(if data[i] == b'+' { b' ' } else { data[i] });
        i += 1;
    }
    out
}
