//! The worker: takes deliveries from the queue onto the pool, retries transient failures,
//! and starts reconciler passes on their tick.

use std::sync::Arc;

use chrono::Utc;
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::policy::ApprovalState;
use crate::types::{CommitSha, PullNumber, RepoName};
use crate::webhook::Queue;

use super::{Gate, GateError};

use super::pool::Handling;
use super::{Job, Work, pool};

impl Gate {
    /// Handles one delivery with the gate's retries. A delivery that keeps failing is left to
    /// the reconciler (its PR stays without `success` meanwhile, which is the safe side).
    async fn handle_with_retries(self: &Arc<Self>, h: &Handling) {
        let span = tracing::info_span!("delivery", id = %h.delivery, event = %h.event_name);
        async {
            let handled = self
                .retry
                .run(
                    || self.handle(&h.event),
                    |attempt, e| tracing::warn!(attempt, error = %e, "delivery processing failed"),
                )
                .await;
            if handled.is_err() {
                tracing::error!("giving up on the delivery; the reconciler will re-evaluate");
            }
        }
        .instrument(span)
        .await
    }

    /// Evaluates one PR with the gate's retries; one that keeps failing is left to the
    /// reconciler, and its status says so: a decision never goes quiet (the agent and the
    /// reviewer would otherwise read a stale "needs 1 approval" after the approval arrived).
    pub(super) async fn evaluate_with_retries(&self, repo: &RepoName, number: PullNumber) {
        // A change that landed while an evaluation ran is older than its status: a pass sees
        // it only within the margin (see `due`), so a slower evaluation looks once more.
        for round in 0..2 {
            let started = std::time::Instant::now();
            let evaluated = self
                .retry
                .run(
                    || self.evaluate_pull(repo, number),
                    |attempt, e| tracing::warn!(%repo, pull = %number, attempt, error = %e, "evaluation failed"),
                )
                .await;
            if let Err(e) = evaluated {
                tracing::error!(%repo, pull = %number, "giving up on the evaluation; the reconciler will re-evaluate");
                self.report_given_up(repo, number, &e).await;
                return;
            }
            let slow =
                chrono::Duration::from_std(started.elapsed()).is_ok_and(|d| d > super::due::MARGIN);
            if !slow {
                return;
            }
            if round == 0 {
                tracing::info!(%repo, pull = %number, "slow evaluation; evaluating once more");
            }
        }
    }

    /// After an evaluation gave up: `error` on the PR's head with the cause and "retrying at
    /// the next pass", unless the code host cannot even say what the head is (then nothing
    /// can be posted either). The next decision replaces it.
    async fn report_given_up(&self, repo: &RepoName, number: PullNumber, e: &GateError) {
        let head = match self.gh.pull(repo, number).await {
            Ok(p) if p.state == "open" && !p.merged => p.head.sha.parse::<CommitSha>().ok(),
            Ok(_) => None,
            Err(err) => {
                tracing::warn!(%repo, pull = %number, error = %err, "cannot read the PR to say the decision failed");
                None
            }
        };
        let Some(head) = head else {
            return;
        };
        let description = format!("{}; retrying at the next pass", given_up_cause(e));
        if let Err(err) = self
            .post(
                repo,
                &head,
                ApprovalState::Error,
                &description,
                Some(number),
            )
            .await
        {
            tracing::warn!(%repo, pull = %number, error = %err, "cannot post that the decision failed");
        }
    }

    /// The dispatcher: takes deliveries from the durable queue in acceptance order and hands
    /// each to the pool under its key (a PR, a commit, a branch), where different keys run
    /// concurrently and one key in order; reconciler ticks start a pass beside it, the first
    /// at start-up. A delivery is completed once the run covering it has finished.
    pub(crate) async fn run_worker(
        self: Arc<Self>,
        queue: Queue,
        ticks: Arc<tokio::sync::Mutex<mpsc::Receiver<()>>>,
    ) {
        if let Ok(mut q) = self.queue.lock() {
            *q = Some(queue.clone());
        }
        let _ = self.me.set(Arc::downgrade(&self));
        // Deliveries set aside before a restart stay on the dashboard.
        let set_aside = queue.set_aside_list();
        self.metrics.set_aside_count(set_aside.len());
        for d in set_aside {
            self.dashboard.record_set_aside(&d.id, &d.event, &d.reason);
        }
        self.start_reconcile();
        loop {
            let work = tokio::select! {
                d = queue.next() => Ok(d),
                Some(()) = async { ticks.lock().await.recv().await } => Err(Work::Reconcile),
            };
            match work {
                Ok(delivery) => {
                    let age = (Utc::now() - delivery.received_at)
                        .num_milliseconds()
                        .max(0) as f64
                        / 1000.0;
                    self.metrics.processing_latency(age);
                    match pool::job_of(&delivery) {
                        Some((key, job)) => {
                            self.pool
                                .submit(&self, &queue, key, job, Some(delivery.id.clone()))
                        }
                        None => {
                            if let Err(e) = queue.complete(&delivery.id).await {
                                tracing::error!(error = %e, id = %delivery.id, "cannot mark the delivery done");
                            }
                        }
                    }
                    self.metrics.queue_depth(queue.depth());
                }
                Err(Work::Reconcile) => self.start_reconcile(),
            }
        }
    }
}

impl pool::Runner for Gate {
    async fn run(self: Arc<Self>, job: Job) {
        match job {
            Job::Evaluate(repo, number) => self.evaluate_with_retries(&repo, number).await,
            Job::Handle(h) => self.handle_with_retries(&h).await,
        }
    }
}

/// The cause of a failed decision, in words for the status (no URL, no response body).
fn given_up_cause(e: &GateError) -> String {
    match e {
        GateError::Gather(g) => g.status_description(),
        GateError::GitHub(g) => match g.status() {
            Some(s) => format!("prgate could not decide: GitHub answered {s}"),
            None => "prgate could not decide: GitHub did not answer".to_string(),
        },
    }
}
