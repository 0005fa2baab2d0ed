//! The GitHub client (in progress).
