//! The GitHub simulator (in progress).
