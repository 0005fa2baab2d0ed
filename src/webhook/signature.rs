//! `X-Hub-Signature-256` verification (implemented by the webhook work).
