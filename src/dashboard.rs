//! dashboard (in progress)
