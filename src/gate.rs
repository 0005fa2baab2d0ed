//! gate (in progress)
