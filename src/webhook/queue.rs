//! The durable delivery queue under `data_dir` (implemented by the webhook work).
