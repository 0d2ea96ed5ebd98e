//! `OutboxDispatcher`: delivers what the engine queued in the storage outbox, retrying
//! failures with backoff and giving up on the hopeless, and keeps storage tidy.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::engine::{Engine, Event};
use crate::error::Error;
use crate::event_handler::EventHandler;
use crate::mailer::{MailError, Message};
use crate::storage::{OutboxMessage, PruneReport, StorageError};

use super::deliveries::{prepare, Work};

/// Delivers the messages the engine queued in the storage outbox: mail through the mailer,
/// events to each registered [`EventHandler`] and to the webhook.
///
/// Use [`spawn`](Self::spawn) (or [`run`](Self::run) in a task of your own) in every server
/// process; call [`dispatch_due`](Self::dispatch_due) to do one round by hand (tests, cron).
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
    /// Messages delivered (a mail the mailer accepted, an event a handler or the webhook
    /// took), now marked done.
    pub sent: u32,
    /// Messages with nothing to send (a reset for an unknown email, an event with no handler
    /// and no webhook configured), marked done.
    pub skipped: u32,
    /// Events replaced by one delivery per destination (delivered in later rounds).
    pub fanned_out: u32,
    /// Messages that failed and were scheduled for a retry.
    pub failed: u32,
    /// Messages given up on (a permanent failure, or retried for too long), now dead letters.
    pub dead: u32,
    /// What housekeeping deleted.
    pub pruned: PruneReport,
}

impl DispatchReport {
    /// Whether the round found no message to handle (whatever housekeeping did).
    pub fn is_idle(&self) -> bool {
        self.sent + self.skipped + self.fanned_out + self.failed + self.dead == 0
    }

    fn is_empty(&self) -> bool {
        *self == DispatchReport::default()
    }
}

impl Engine {
    /// A dispatcher delivering this engine's outbox through its mailer.
    pub fn outbox_dispatcher(&self) -> OutboxDispatcher {
        OutboxDispatcher::new(self.clone())
    }
}

/// What became of one claimed message.
enum Delivery {
    Sent,
    Skipped,
    FannedOut(Vec<OutboxMessage>),
    Retry {
        error: String,
        after: time::Duration,
    },
    Dead {
        reason: String,
    },
}

impl OutboxDispatcher {
    /// A dispatcher for `engine`'s storage, mailer, clock and outbox policy.
    pub fn new(engine: Engine) -> Self {
        OutboxDispatcher { engine }
    }

    /// Delivers every message due now, once, then does the housekeeping: claims up to
    /// [`OutboxPolicy::batch`] messages with a lease and delivers each (a mail is rendered
    /// and its token created only now); marks the delivered ones done, schedules failures
    /// for a retry after [`OutboxPolicy::backoff`] (or the delay the mail server asked
    /// for), and turns permanent failures, and messages retried past
    /// [`OutboxPolicy::give_up_after`], into dead letters with the reason.
    ///
    /// A mail failure is not an error here (it is counted and retried); only a storage
    /// failure is ([`Error::Storage`]). Messages claimed in a round that fails stay leased and
    /// are claimed again when the lease runs out.
    ///
    /// [`OutboxPolicy::batch`]: crate::OutboxPolicy::batch
    /// [`OutboxPolicy::backoff`]: crate::OutboxPolicy::backoff
    /// [`OutboxPolicy::give_up_after`]: crate::OutboxPolicy::give_up_after
    pub async fn dispatch_due(&self) -> Result<DispatchReport, Error> {
        let mut report = self.deliver_due(&AtomicBool::new(false)).await?;
        report.pruned = self.housekeeping().await?;
        Ok(report)
    }

    /// Deletes what no rule needs any more (see [`Storage::prune`](crate::Storage::prune) and
    /// [`Storage::prune_clicks`](crate::Storage::prune_clicks)): visitors past the click
    /// window, click counts of days before the stats window, ended rate-limit windows,
    /// expired and revoked tokens, delivered messages older than
    /// [`OutboxPolicy::retention`](crate::OutboxPolicy::retention), dead letters older than
    /// [`OutboxPolicy::dead_retention`](crate::OutboxPolicy::dead_retention).
    pub async fn housekeeping(&self) -> Result<PruneReport, Error> {
        let policy = self.engine.config().outbox();
        let now = self.engine.now();
        let storage = self.engine.storage();
        let report = storage
            .prune(now, now - policy.retention, now - policy.dead_retention)
            .await?;
        // Visitors past the click window hold nothing back; day counts before the stats
        // window are in the totals already.
        let clicks = storage
            .prune_clicks(now - crate::CLICK_WINDOW, now - crate::RECENT_WINDOW)
            .await?;
        tracing::debug!(target: "referral::clicks", pruned = clicks, "click housekeeping");
        Ok(report)
    }

    /// Dispatches until `shutdown` resolves: a round now, then another at once when that
    /// one handled messages, else whenever the engine queues something
    /// ([`Engine::outbox_ready`]) or [`OutboxPolicy::poll_interval`] passes; housekeeping
    /// every [`OutboxPolicy::housekeeping_interval`].
    ///
    /// Storage errors are logged and the round is tried again later; this never returns
    /// early. On shutdown the message being sent is finished and recorded; messages claimed
    /// but not yet started are released for the next dispatcher.
    ///
    /// [`OutboxPolicy::poll_interval`]: crate::OutboxPolicy::poll_interval
    /// [`OutboxPolicy::housekeeping_interval`]: crate::OutboxPolicy::housekeeping_interval
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let mut shutdown = std::pin::pin!(shutdown);
        let stopping = AtomicBool::new(false);
        let policy = self.engine.config().outbox();
        let poll = policy.poll_interval.unsigned_abs();
        let tidy_every = policy.housekeeping_interval.unsigned_abs();
        let mut tidied: Option<Instant> = None;
        loop {
            let round = async {
                let mut report = self.deliver_due(&stopping).await?;
                if tidied.is_none_or(|at| at.elapsed() >= tidy_every) {
                    report.pruned = self.housekeeping().await?;
                    tidied = Some(Instant::now());
                }
                Ok(report)
            };
            let mut round = std::pin::pin!(round);
            let turn = tokio::select! {
                outcome = &mut round => Turn::Done(outcome),
                () = &mut shutdown => Turn::Stop,
            };
            let busy = match turn {
                Turn::Done(outcome) => {
                    let busy = outcome.as_ref().is_ok_and(|report| !report.is_idle());
                    log_round(outcome);
                    busy
                }
                Turn::Stop => {
                    stopping.store(true, Ordering::Relaxed);
                    log_round(round.await);
                    return;
                }
            };
            // A busy round may have made more work due at once (an event's deliveries, a
            // user's next event): go again without waiting.
            if busy {
                continue;
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

    async fn deliver_due(&self, stopping: &AtomicBool) -> Result<DispatchReport, Error> {
        let policy = self.engine.config().outbox();
        let storage = self.engine.storage();
        let now = self.engine.now();
        let claimed = storage
            .claim_outbox(now, now + policy.lease, policy.batch)
            .await?;
        let mut report = DispatchReport::default();
        for message in claimed {
            if stopping.load(Ordering::Relaxed) {
                storage
                    .fail_outbox(message.id, now, "not attempted: dispatcher shut down")
                    .await?;
                continue;
            }
            let delivery = self.deliver(&message).await?;
            let now = self.engine.now();
            match delivery {
                Delivery::FannedOut(copies) => {
                    // `false`: another dispatcher, whose lease ran out, fanned it out first.
                    if storage.fan_out_event(message.id, copies, now).await? {
                        report.fanned_out += 1;
                    }
                }
                Delivery::Sent | Delivery::Skipped => {
                    if let Err(error) = storage.complete_outbox(message.id, now).await {
                        tracing::error!(
                            message = %message.id,
                            %error,
                            "message delivered but not marked done; it will be delivered again after the lease"
                        );
                        return Err(error.into());
                    }
                    if matches!(delivery, Delivery::Sent) {
                        report.sent += 1;
                    } else {
                        report.skipped += 1;
                    }
                }
                Delivery::Retry { error, after } => {
                    // The body is never logged: mails carry live tokens.
                    tracing::warn!(
                        message = %message.id,
                        topic = %message.topic,
                        attempts = message.attempts,
                        retry_in_secs = after.whole_seconds(),
                        %error,
                        "delivery failed; will retry"
                    );
                    storage.fail_outbox(message.id, now + after, &error).await?;
                    report.failed += 1;
                }
                Delivery::Dead { reason } => {
                    tracing::error!(
                        message = %message.id,
                        topic = %message.topic,
                        attempts = message.attempts,
                        %reason,
                        "delivery given up; kept as a dead letter"
                    );
                    storage.dead_letter_outbox(message.id, now, &reason).await?;
                    report.dead += 1;
                }
            }
        }
        Ok(report)
    }

    /// Prepares and delivers one message. Only a storage outage is an error (the round
    /// stops and the message is claimed again after its lease).
    async fn deliver(&self, message: &OutboxMessage) -> Result<Delivery, Error> {
        let work = match prepare(&self.engine, message).await {
            Ok(work) => work,
            Err(Error::Storage(StorageError::Unavailable(source))) => {
                return Err(Error::Storage(StorageError::Unavailable(source)))
            }
            Err(error) => {
                return Ok(Delivery::Dead {
                    reason: error.to_string(),
                })
            }
        };
        let attempt = match work {
            Work::Nothing => return Ok(Delivery::Skipped),
            Work::FanOut(copies) => return Ok(Delivery::FannedOut(copies)),
            Work::Mail(mail) => self.send(mail).await,
            Work::Handler(handler, event) => self.hand_to(handler, event).await,
            #[cfg(feature = "webhooks")]
            Work::Webhook { event_id, body } => self.post_webhook(event_id, body).await,
            Work::Elsewhere(reason) => Err(Failure {
                error: reason,
                permanent: false,
                retry_after: None,
            }),
        };
        Ok(match attempt {
            Ok(()) => Delivery::Sent,
            Err(failure) => self.after(message, failure),
        })
    }

    /// What a failed attempt leads to: a dead letter when it is permanent or the message has
    /// been retried for [`OutboxPolicy::give_up_after`](crate::OutboxPolicy::give_up_after),
    /// else a retry after the backoff (or the delay the other side asked for, if longer).
    fn after(&self, message: &OutboxMessage, failure: Failure) -> Delivery {
        let policy = self.engine.config().outbox();
        if failure.permanent {
            return Delivery::Dead {
                reason: failure.error,
            };
        }
        let queued_for = self.engine.now() - message.created_at;
        if queued_for >= policy.give_up_after {
            return Delivery::Dead {
                reason: format!(
                    "gave up after {} hours of retries; last error: {}",
                    queued_for.whole_hours(),
                    failure.error
                ),
            };
        }
        let asked = failure
            .retry_after
            .and_then(|delay| time::Duration::try_from(delay).ok())
            .map_or(time::Duration::ZERO, |delay| delay.min(policy.backoff_max));
        Delivery::Retry {
            error: failure.error,
            after: policy.backoff(message.attempts).max(asked),
        }
    }

    /// Sends one mail.
    async fn send(&self, message: Message) -> Result<(), Failure> {
        let mailer = self.engine.mailer().clone();
        self.bounded("the mailer", async move {
            mailer.send(&message).await.map_err(Failure::from)
        })
        .await
    }

    /// Hands one event to one handler.
    async fn hand_to(&self, handler: Arc<dyn EventHandler>, event: Event) -> Result<(), Failure> {
        self.bounded("the event handler", async move {
            handler.handle(&event).await.map_err(|error| Failure {
                permanent: error.is_permanent(),
                error: error.to_string(),
                retry_after: None,
            })
        })
        .await
    }

    /// POSTs one event to the webhook.
    #[cfg(feature = "webhooks")]
    async fn post_webhook(&self, event_id: uuid::Uuid, body: String) -> Result<(), Failure> {
        let Some(webhook) = self.engine.webhook().cloned() else {
            return Err(Failure {
                error: "no webhook is configured in this process".into(),
                permanent: false,
                retry_after: None,
            });
        };
        let now = self.engine.now();
        self.bounded("the webhook", async move {
            webhook
                .post(event_id, now, &body)
                .await
                .map_err(|error| Failure {
                    error: error.to_string(),
                    permanent: false,
                    retry_after: error.retry_after(),
                })
        })
        .await
    }

    /// Runs one delivery attempt in a task of its own, bounded by half the lease: a mailer,
    /// handler or receiver that hangs or panics fails this attempt, never the dispatcher,
    /// and an attempt never outlives the claim that protects it from a second dispatcher.
    async fn bounded(
        &self,
        what: &str,
        attempt: impl Future<Output = Result<(), Failure>> + Send + 'static,
    ) -> Result<(), Failure> {
        let mut task = tokio::spawn(attempt);
        let limit = (self.engine.config().outbox().lease / 2_i32).unsigned_abs();
        let failed = |error: String| Failure {
            error,
            permanent: false,
            retry_after: None,
        };
        match tokio::time::timeout(limit, &mut task).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(join_error)) => Err(failed(format!("{what} failed unexpectedly: {join_error}"))),
            Err(_elapsed) => {
                task.abort();
                Err(failed(format!(
                    "{what} did not answer within {} seconds",
                    limit.as_secs()
                )))
            }
        }
    }
}

/// Why one delivery attempt failed.
struct Failure {
    error: String,
    /// Retrying is pointless: a dead letter at once.
    permanent: bool,
    /// The delay the other side asked for (a provider's 429).
    retry_after: Option<std::time::Duration>,
}

impl From<MailError> for Failure {
    fn from(error: MailError) -> Self {
        Failure {
            permanent: error.is_permanent(),
            retry_after: error.retry_after(),
            error: error.to_string(),
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
            skipped = report.skipped,
            fanned_out = report.fanned_out,
            failed = report.failed,
            dead = report.dead,
            pruned = ?report.pruned,
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
