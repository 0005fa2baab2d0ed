//! The audit's progress on stderr: a one-line counter, redrawn at most ten times a second.

use super::*;

/// A one-line counter on stderr, redrawn at most ten times a second; the total is unknown
/// until the walk ends, so it counts rather than fills a bar.
pub(super) struct Progress {
    enabled: bool,
    last: Option<Instant>,
    /// The walk reads every commit in full (no usable commit-graph): say how to avoid it.
    pub(super) without_graph: bool,
}

impl Progress {
    pub(super) fn new(enabled: bool) -> Self {
        Progress {
            enabled,
            last: None,
            without_graph: false,
        }
    }

    pub(super) fn tick(&mut self, r: &AuditReport) {
        if !self.enabled || !r.commits_walked.is_multiple_of(256) {
            return;
        }
        let now = Instant::now();
        if self
            .last
            .is_some_and(|l| now.duration_since(l) < Duration::from_millis(100))
        {
            return;
        }
        self.last = Some(now);
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\rprgate audit: {}, {} governed{}",
            crate::render::plural(r.commits_walked, "commit"),
            r.governed_commits,
            if self.without_graph {
                " (no commit-graph: `git commit-graph write --reachable` makes this about twice as fast)"
            } else {
                ""
            }
        );
        let _ = err.flush();
    }

    pub(super) fn finish(&self) {
        if self.enabled && self.last.is_some() {
            // Erase the line so that the report starts on a clean one.
            let _ = write!(std::io::stderr().lock(), "\r\x1b[2K");
        }
    }
}
