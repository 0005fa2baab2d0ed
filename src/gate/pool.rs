//! The gate's runtime: each delivery from the durable queue becomes a job keyed by what it is
//! about (a PR, a commit's status, a branch's push). Jobs of different keys run concurrently,
//! up to `[runtime] workers`; jobs of one key run in order; and deliveries for a PR that is
//! being evaluated are coalesced into one more evaluation, since every evaluation re-reads all
//! the facts. A delivery is completed only once the run that covers it has finished.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;

use crate::types::{CommitSha, PullNumber, RepoName};
use crate::webhook::{
    CheckRunEvent, Delivery, Event, MergeGroupEvent, PushEvent, Queue, StatusEvent,
};

/// How many times a delivery's processing may start before it is set aside.
const MAX_ATTEMPTS: u32 = 3;

/// What a job is about; jobs with the same key never run at the same time.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum JobKey {
    Pull(RepoName, PullNumber),
    Status(RepoName, CommitSha),
    Push(RepoName, String),
}

/// One unit of work.
#[derive(Debug, Clone)]
pub(crate) enum Job {
    /// Re-evaluate a PR from fresh facts.
    Evaluate(RepoName, PullNumber),
    /// Act on a delivery as it is (statuses, pushes, merge groups, check runs, in order).
    Handle(Box<Handling>),
}

/// A delivery the gate acts on as it is.
#[derive(Debug, Clone)]
pub(crate) struct Handling {
    /// The delivery's id and event name, for log lines.
    pub delivery: String,
    pub event_name: String,
    pub event: Handled,
}

/// The events the gate acts on as they are; each has one handler (`Gate::handle`).
#[derive(Debug, Clone)]
pub(crate) enum Handled {
    Status(StatusEvent),
    Push(PushEvent),
    /// Only a group waiting for its checks (`checks_requested`).
    MergeGroup(MergeGroupEvent),
    CheckRun(CheckRunEvent),
}

impl std::fmt::Display for Job {
    /// For log lines: `evaluate acme/infra#3`, `handle push delivery <id>`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Job::Evaluate(repo, number) => write!(f, "evaluate {repo}#{number}"),
            Job::Handle(h) => write!(f, "handle {} delivery {}", h.event_name, h.delivery),
        }
    }
}

/// The key and job a delivery turns into; `None` for one with nothing to do. The one place
/// that routes an event: a PR or review delivery to an evaluation of its PR, anything else
/// to its handler.
pub(crate) fn job_of(d: &Delivery) -> Option<(JobKey, Job)> {
    let evaluate = |repo: &RepoName, number: PullNumber| {
        Some((
            JobKey::Pull(repo.clone(), number),
            Job::Evaluate(repo.clone(), number),
        ))
    };
    let handle = |key: JobKey, event: Handled| {
        Some((
            key,
            Job::Handle(Box::new(Handling {
                delivery: d.id.clone(),
                event_name: d.event_name.clone(),
                event,
            })),
        ))
    };
    match &d.event {
        Event::PullRequest(e) => {
            if super::IGNORED_PULL_ACTIONS.contains(&e.action.as_str()) {
                return None;
            }
            evaluate(&e.repo, e.number)
        }
        Event::PullRequestReview(e) => evaluate(&e.repo, e.number),
        Event::Status(e) => handle(
            JobKey::Status(e.repo.clone(), e.sha.clone()),
            Handled::Status(e.clone()),
        ),
        Event::Push(e) => handle(
            JobKey::Push(e.repo.clone(), e.git_ref.clone()),
            Handled::Push(e.clone()),
        ),
        // Only a group waiting for its checks needs an answer; a destroyed group needs none
        // (its merged commits reach the executor as a push of the base).
        Event::MergeGroup(e) if e.action == "checks_requested" => handle(
            JobKey::Status(e.repo.clone(), e.head_sha.clone()),
            Handled::MergeGroup(e.clone()),
        ),
        Event::CheckRun(e) => handle(
            JobKey::Status(e.repo.clone(), e.head_sha.clone()),
            Handled::CheckRun(e.clone()),
        ),
        Event::MergeGroup(_) | Event::Ping | Event::Ignored { .. } => None,
    }
}

/// Work waiting for its key, with the deliveries it covers.
struct Waiting {
    job: Job,
    deliveries: Vec<String>,
}

#[derive(Default)]
struct Lane {
    waiting: VecDeque<Waiting>,
}

/// Runs jobs through per-key lanes on a bounded pool. Cheap to clone.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<PoolInner>,
}

struct PoolInner {
    /// Keys with a job running; their lane holds what waits behind it.
    lanes: Mutex<HashMap<JobKey, Lane>>,
    permits: Semaphore,
    running: AtomicUsize,
    max_running: AtomicUsize,
    evaluations: AtomicUsize,
    panics: AtomicUsize,
    /// Where a set-aside delivery is reported besides the log.
    report: Option<(crate::metrics::Metrics, crate::dashboard::Dashboard)>,
}

/// What runs a job; the gate in service, a stand-in in tests.
pub(crate) trait Runner: Send + Sync + 'static {
    fn run(self: Arc<Self>, job: Job) -> impl std::future::Future<Output = ()> + Send;
}

impl Pool {
    pub fn new(workers: usize) -> Pool {
        Pool::build(workers, None)
    }

    /// A pool that reports set-aside deliveries in the metrics and on the dashboard.
    pub(crate) fn reporting(
        workers: usize,
        metrics: crate::metrics::Metrics,
        dashboard: crate::dashboard::Dashboard,
    ) -> Pool {
        Pool::build(workers, Some((metrics, dashboard)))
    }

    fn build(
        workers: usize,
        report: Option<(crate::metrics::Metrics, crate::dashboard::Dashboard)>,
    ) -> Pool {
        Pool {
            inner: Arc::new(PoolInner {
                report,
                lanes: Mutex::new(HashMap::new()),
                permits: Semaphore::new(workers.max(1)),
                running: AtomicUsize::new(0),
                max_running: AtomicUsize::new(0),
                evaluations: AtomicUsize::new(0),
                panics: AtomicUsize::new(0),
            }),
        }
    }

    /// The most jobs that ran at the same time so far.
    pub fn max_concurrent(&self) -> usize {
        self.inner.max_running.load(Ordering::SeqCst)
    }

    /// PR evaluations started so far (coalesced deliveries count once).
    pub fn evaluations(&self) -> usize {
        self.inner.evaluations.load(Ordering::SeqCst)
    }

    /// Jobs running or waiting.
    pub fn busy(&self) -> bool {
        self.inner
            .lanes
            .lock()
            .map(|l| !l.is_empty())
            .unwrap_or(true)
    }

    /// Runs `job` after whatever runs or waits under `key`; `delivery` (if any) is completed
    /// in `queue` once a run that covers it has finished.
    pub(crate) fn submit<R: Runner>(
        &self,
        runner: &Arc<R>,
        queue: &Queue,
        key: JobKey,
        job: Job,
        delivery: Option<String>,
    ) {
        let deliveries: Vec<String> = delivery.into_iter().collect();
        {
            let Ok(mut lanes) = self.inner.lanes.lock() else {
                return;
            };
            if let Some(lane) = lanes.get_mut(&key) {
                // An evaluation waiting for this PR already covers this delivery too.
                if let (Job::Evaluate(..), Some(last)) = (&job, lane.waiting.back_mut())
                    && matches!(last.job, Job::Evaluate(..))
                {
                    last.deliveries.extend(deliveries);
                    return;
                }
                lane.waiting.push_back(Waiting { job, deliveries });
                return;
            }
            lanes.insert(key.clone(), Lane::default());
        }
        self.spawn(
            runner.clone(),
            queue.clone(),
            key,
            Waiting { job, deliveries },
        );
    }

    fn spawn<R: Runner>(&self, runner: Arc<R>, queue: Queue, key: JobKey, work: Waiting) {
        let pool = self.clone();
        tokio::spawn(async move {
            let mut work = work;
            loop {
                pool.run_one(&runner, &queue, work).await;
                // Take what waits behind, or retire the lane.
                let next = match pool.inner.lanes.lock() {
                    Ok(mut lanes) => {
                        match lanes.get_mut(&key).and_then(|l| l.waiting.pop_front()) {
                            Some(w) => Some(w),
                            None => {
                                lanes.remove(&key);
                                None
                            }
                        }
                    }
                    Err(_) => None,
                };
                match next {
                    Some(w) => work = w,
                    None => return,
                }
            }
        });
    }

    async fn run_one<R: Runner>(&self, runner: &Arc<R>, queue: &Queue, work: Waiting) {
        let Ok(_permit) = self.inner.permits.acquire().await else {
            return;
        };
        loop {
            // Counted (on disk) before each start, so that a delivery that brings the whole
            // process down is set aside after a few restarts too.
            let mut attempts = 0;
            for id in &work.deliveries {
                match queue.record_attempt(id).await {
                    Ok(n) => attempts = attempts.max(n),
                    Err(e) => tracing::warn!(error = %e, %id, "cannot count the attempt"),
                }
            }
            if attempts > MAX_ATTEMPTS {
                self.set_aside(
                    queue,
                    &work,
                    "processing failed (panicked) on every attempt",
                )
                .await;
                return;
            }
            let now = self.inner.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.inner.max_running.fetch_max(now, Ordering::SeqCst);
            if matches!(work.job, Job::Evaluate(..)) {
                self.inner.evaluations.fetch_add(1, Ordering::SeqCst);
            }
            // A job that panics must not take its lane or the pool with it: it runs in a task
            // of its own; it is tried again, and set aside after a few attempts.
            let r = runner.clone();
            let job = work.job.clone();
            let outcome = tokio::spawn(async move { r.run(job).await }).await;
            self.inner.running.fetch_sub(1, Ordering::SeqCst);
            match outcome {
                Ok(()) => break,
                Err(e) => {
                    tracing::error!(job = %work.job, error = %e, attempts, "a job panicked");
                    self.inner.panics.fetch_add(1, Ordering::SeqCst);
                    if work.deliveries.is_empty() || attempts >= MAX_ATTEMPTS {
                        self.set_aside(
                            queue,
                            &work,
                            &format!("processing panicked {attempts} times: {e}"),
                        )
                        .await;
                        return;
                    }
                }
            }
        }
        for id in &work.deliveries {
            if let Err(e) = queue.complete(id).await {
                tracing::error!(error = %e, %id, "cannot mark the delivery done; it will be processed again after a restart");
            }
        }
    }

    /// Keeps the deliveries of a job that keeps failing on disk, out of the live queue, with
    /// the reason: reported, never retried forever. The reconciler still covers their PR.
    async fn set_aside(&self, queue: &Queue, work: &Waiting, reason: &str) {
        let event = match &work.job {
            Job::Evaluate(..) => "pull_request".to_string(),
            Job::Handle(h) => h.event_name.clone(),
        };
        for id in &work.deliveries {
            tracing::error!(%id, job = %work.job, %reason, "delivery set aside");
            if let Err(e) = queue.set_aside(id, reason).await {
                tracing::error!(error = %e, %id, "cannot set the delivery aside");
            }
            if let Some((metrics, dashboard)) = &self.inner.report {
                metrics.delivery(&event, "set_aside");
                metrics.set_aside_count(queue.set_aside_list().len());
                dashboard.record_set_aside(id, &event, reason);
            }
        }
    }

    /// Jobs that panicked so far.
    pub fn panics(&self) -> usize {
        self.inner.panics.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;
    use crate::webhook::ReviewEvent;
    use std::time::Duration;

    /// Panics on PR #1, counts the rest.
    struct Flaky {
        done: AtomicUsize,
    }

    impl Runner for Flaky {
        async fn run(self: Arc<Self>, job: Job) {
            if let Job::Evaluate(_, PullNumber(1)) = job {
                panic!("a delivery that breaks the worker");
            }
            self.done.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn delivery(id: &str, number: u64) -> Delivery {
        Delivery {
            id: id.to_string(),
            event_name: "pull_request_review".into(),
            received_at: chrono::Utc::now(),
            event: Event::PullRequestReview(ReviewEvent {
                action: "submitted".into(),
                repo: "acme/infra".parse().unwrap(),
                number: PullNumber(number),
            }),
        }
    }

    #[tokio::test]
    async fn a_delivery_that_panics_is_set_aside_after_three_attempts_and_others_go_on() {
        let dir = tempfile::tempdir().unwrap();
        let queue = Queue::open(dir.path(), Metrics::new()).unwrap();
        let runner = Arc::new(Flaky {
            done: AtomicUsize::new(0),
        });
        let metrics = Metrics::new();
        let dashboard = crate::dashboard::Dashboard::new();
        let pool = Pool::reporting(4, metrics.clone(), dashboard.clone());
        for (id, n) in [("poison", 1), ("fine", 2)] {
            queue.enqueue(delivery(id, n)).await.unwrap();
            let d = queue.next().await;
            let (key, job) = job_of(&d).unwrap();
            pool.submit(&runner, &queue, key, job, Some(d.id.clone()));
        }
        for _ in 0..200 {
            if !pool.busy() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            runner.done.load(Ordering::SeqCst),
            1,
            "the other delivery went on"
        );
        assert_eq!(pool.panics(), 3, "three attempts, then no more");
        let aside = queue.set_aside_list();
        assert_eq!(aside.len(), 1, "{aside:?}");
        assert_eq!(aside[0].id, "poison");
        assert!(aside[0].reason.contains("panicked 3 times"), "{aside:?}");
        assert_eq!(queue.depth(), 0);
        // Reported, not only logged.
        assert!(dashboard.render_html().contains("<code>poison</code>"));
        assert!(
            metrics.render().contains("set_aside"),
            "{}",
            metrics.render()
        );
    }
}
