//! `OutboxDispatcher`: sends queued mail through the engine's mailer, retrying failures with
//! backoff, and prunes what was sent long ago.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::engine::Engine;
use crate::error::Error;
use crate::mailer::MailError;
use crate::storage::OutboxMessage;

/// Sends the messages the engine queued in the storage outbox.
///
/// Use [`spawn`](Self::spawn) (or [`run`](Self::run) in a task of your own) in every server
/// process; call [`dispatch_due`](Self::dispatch_due) to send one round by hand (tests, cron).
/// The policy is the engine's [`Config::outbox`](crate::Config::outbox).
///
/// ```
/// use referral_core::{Config, Engine};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let engine = Engine::builder(Config::builder().random_secret().build()?).build()?;
/// let outbox = engine.outbox_dispatcher().spawn();
/// // … serve requests …
/// outbox.shutdown().await?;
/// # Ok::<(), referral_core::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct OutboxDispatcher {
    engine: Engine,
}

/// What one round of [`OutboxDispatcher::dispatch_due`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DispatchReport {
    /// Messages the mail server accepted, now marked sent.
    pub sent: u32,
    /// Messages that failed and were scheduled for a retry.
    pub failed: u32,
    /// Sent messages older than the retention period, deleted.
    pub pruned: u64,
}

impl DispatchReport {
    fn is_empty(&self) -> bool {
        *self == DispatchReport::default()
    }
}

impl Engine {
    /// A dispatcher sending this engine's outbox through its mailer.
    pub fn outbox_dispatcher(&self) -> OutboxDispatcher {
        OutboxDispatcher::new(self.clone())
    }
}

impl OutboxDispatcher {
    /// A dispatcher for `engine`'s storage, mailer, clock and outbox policy.
    pub fn new(engine: Engine) -> Self {
        OutboxDispatcher { engine }
    }

    /// Sends every message due now, once: claims up to [`OutboxPolicy::batch`] of them with a
    /// lease, sends each, marks the accepted ones sent and schedules the others for a retry
    /// after [`OutboxPolicy::backoff`]; then prunes sent messages older than
    /// [`OutboxPolicy::retention`].
    ///
    /// A mail failure is not an error here (it is counted and retried); only a storage
    /// failure is ([`Error::Storage`]). Messages claimed in a round that fails stay leased and
    /// are claimed again when the lease runs out.
    ///
    /// [`OutboxPolicy::batch`]: crate::OutboxPolicy::batch
    /// [`OutboxPolicy::backoff`]: crate::OutboxPolicy::backoff
    /// [`OutboxPolicy::retention`]: crate::OutboxPolicy::retention
    pub async fn dispatch_due(&self) -> Result<DispatchReport, Error> {
        self.dispatch(&AtomicBool::new(false)).await
    }

    /// Dispatches until `shutdown` resolves: a round now, then another whenever the engine
    /// queues mail ([`Engine::outbox_ready`]) or [`OutboxPolicy::poll_interval`] passes.
    ///
    /// Storage errors are logged and the round is tried again later; this never returns
    /// early. On shutdown the message being sent is finished and recorded; messages claimed
    /// but not yet started are released for the next dispatcher.
    ///
    /// [`OutboxPolicy::poll_interval`]: crate::OutboxPolicy::poll_interval
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let mut shutdown = std::pin::pin!(shutdown);
        let stopping = AtomicBool::new(false);
        let poll = self.engine.config().outbox().poll_interval.unsigned_abs();
        loop {
            let round = self.dispatch(&stopping);
            let mut round = std::pin::pin!(round);
            let turn = tokio::select! {
                outcome = &mut round => Turn::Done(outcome),
                () = &mut shutdown => Turn::Stop,
            };
            match turn {
                Turn::Done(outcome) => log_round(outcome),
                Turn::Stop => {
                    stopping.store(true, Ordering::Relaxed);
                    log_round(round.await);
                    return;
                }
            }
            tokio::select! {
                () = &mut shutdown => return,
                () = self.engine.outbox_ready() => {}
                () = tokio::time::sleep(poll) => {}
            }
        }
    }

    /// Runs the dispatcher in a tokio task until [`OutboxHandle::shutdown`].
    ///
    /// Dropping the handle detaches the task: it runs until the runtime stops.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, like [`tokio::spawn`].
    pub fn spawn(self) -> OutboxHandle {
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown = async move {
            // A dropped handle is a detach, not a shutdown.
            if stopped.await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        OutboxHandle {
            stop,
            task: tokio::spawn(self.run(shutdown)),
        }
    }

    async fn dispatch(&self, stopping: &AtomicBool) -> Result<DispatchReport, Error> {
        let policy = self.engine.config().outbox();
        let storage = self.engine.storage();
        let now = self.engine.now();
        let claimed = storage
            .claim_outbox(now, now + policy.lease, policy.batch)
            .await?;
        let mut report = DispatchReport::default();
        for outbox in claimed {
            if stopping.load(Ordering::Relaxed) {
                storage
                    .fail_outbox(outbox.id, now, "not attempted: dispatcher shut down")
                    .await?;
                continue;
            }
            match self.send(&outbox).await {
                Ok(()) => {
                    if let Err(error) = storage.complete_outbox(outbox.id, self.engine.now()).await
                    {
                        tracing::error!(
                            message = %outbox.id,
                            %error,
                            "mail sent but not marked sent; it will be sent again after the lease"
                        );
                        return Err(error.into());
                    }
                    report.sent += 1;
                }
                Err(error) => {
                    let delay = policy.backoff(outbox.attempts);
                    // The body is never logged: reset mails carry live tokens.
                    tracing::warn!(
                        message = %outbox.id,
                        attempts = outbox.attempts,
                        retry_in_secs = delay.whole_seconds(),
                        %error,
                        "mail not sent; will retry"
                    );
                    storage
                        .fail_outbox(outbox.id, self.engine.now() + delay, &error.to_string())
                        .await?;
                    report.failed += 1;
                }
            }
        }
        report.pruned = storage.prune_outbox(now - policy.retention).await?;
        Ok(report)
    }

    /// Sends one message in a task of its own, bounded by half the lease: a mailer that
    /// hangs or panics fails this attempt, never the dispatcher, and a send never outlives
    /// the claim that protects it from a second dispatcher.
    async fn send(&self, outbox: &OutboxMessage) -> Result<(), MailError> {
        let mailer = self.engine.mailer().clone();
        let message = outbox.message.clone();
        let mut task = tokio::spawn(async move { mailer.send(&message).await });
        let limit = (self.engine.config().outbox().lease / 2_i32).unsigned_abs();
        match tokio::time::timeout(limit, &mut task).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(join_error)) => Err(MailError::Unavailable(format!(
                "the mailer failed unexpectedly: {join_error}"
            ))),
            Err(_elapsed) => {
                task.abort();
                Err(MailError::Unavailable(format!(
                    "the mailer did not answer within {} seconds",
                    limit.as_secs()
                )))
            }
        }
    }
}

enum Turn {
    Done(Result<DispatchReport, Error>),
    Stop,
}

fn log_round(outcome: Result<DispatchReport, Error>) {
    match outcome {
        Ok(report) if report.is_empty() => {}
        Ok(report) => tracing::debug!(
            sent = report.sent,
            failed = report.failed,
            pruned = report.pruned,
            "outbox round"
        ),
        Err(error) => tracing::warn!(%error, "outbox round failed; retrying next round"),
    }
}

/// A running [`OutboxDispatcher`] task.
#[derive(Debug)]
pub struct OutboxHandle {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl OutboxHandle {
    /// Stops the dispatcher after the message it is sending, and waits for it.
    ///
    /// Errors: [`Error::Internal`] if the task had panicked or was aborted.
    pub async fn shutdown(self) -> Result<(), Error> {
        // The task may already be gone; joining below reports why.
        let _ = self.stop.send(());
        self.task
            .await
            .map_err(|error| Error::Internal(format!("outbox dispatcher task failed: {error}")))
    }

    /// Whether the task has stopped.
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}
