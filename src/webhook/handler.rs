//! The axum handler for `POST /webhook` (implemented by the webhook work).
