//! Click tracking: following a share link answers a redirect at once and queues the click;
//! a background writer counts queued clicks in batches. Under overload clicks are dropped,
//! never the redirect.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::json;
use time::Duration;
use tokio::sync::{mpsc, watch};
use uuid::Uuid;

use super::events::{event_message, EventType};
use super::{now_on, Engine};
use crate::clock::Clock;
use crate::referral_code::ReferralCode;
use crate::storage::{Click, OutboxMessage, Storage};

/// How long a visitor's click holds back their further clicks on the same user's links.
pub const CLICK_WINDOW: Duration = Duration::hours(24);

/// Clicks waiting for the writer at most; past it, new clicks are dropped (not counted).
pub const CLICK_QUEUE_CAPACITY: usize = 16_384;

/// Clicks the writer counts in one storage call at most.
pub const CLICK_BATCH: usize = 1_024;

/// The queue between requests and the click writer.
pub(crate) struct ClickQueue {
    sender: mpsc::Sender<Click>,
    /// Taken by the writer when the first click starts it.
    receiver: Mutex<Option<mpsc::Receiver<Click>>>,
    running: AtomicBool,
    /// Clicks accepted into the queue.
    queued: AtomicU64,
    /// Clicks dropped because the queue was full or no writer could run.
    dropped: AtomicU64,
    /// Clicks the writer has finished with (counted, held back, or lost to a storage error).
    settled: watch::Sender<u64>,
}

impl ClickQueue {
    pub(crate) fn new() -> Self {
        let (sender, receiver) = mpsc::channel(CLICK_QUEUE_CAPACITY);
        ClickQueue {
            sender,
            receiver: Mutex::new(Some(receiver)),
            running: AtomicBool::new(false),
            queued: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            settled: watch::Sender::new(0),
        }
    }

    /// Queues a click without waiting, starting the writer on the current runtime the first
    /// time. A full queue, or no runtime to write from, drops the click.
    fn push(&self, storage: &Arc<dyn Storage>, clock: &Arc<dyn Clock>, click: Click) {
        if !self.running.load(Ordering::Acquire) && !self.start(storage, clock) {
            self.dropped.fetch_add(1, Ordering::AcqRel);
            tracing::warn!(target: "referral::clicks", "no tokio runtime: a click was dropped");
            return;
        }
        match self.sender.try_send(click) {
            Ok(()) => {
                self.queued.fetch_add(1, Ordering::AcqRel);
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::AcqRel);
                tracing::debug!(target: "referral::clicks", "click queue full; a click was dropped");
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.dropped.fetch_add(1, Ordering::AcqRel);
                tracing::debug!(target: "referral::clicks", "the click writer stopped; a click was dropped");
            }
        }
    }

    /// Starts the writer unless it runs; whether it runs now.
    fn start(&self, storage: &Arc<dyn Storage>, clock: &Arc<dyn Clock>) -> bool {
        let mut receiver = self
            .receiver
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if self.running.load(Ordering::Acquire) {
            return true;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return false;
        };
        let Some(receiver) = receiver.take() else {
            return false;
        };
        runtime.spawn(write_clicks(
            Arc::clone(storage),
            Arc::clone(clock),
            receiver,
            self.settled.clone(),
        ));
        self.running.store(true, Ordering::Release);
        true
    }

    fn stats(&self) -> ClickQueueStats {
        ClickQueueStats {
            queued: self.queued.load(Ordering::Acquire),
            dropped: self.dropped.load(Ordering::Acquire),
            settled: *self.settled.borrow(),
        }
    }

    /// Resolves once every click queued before the call is settled.
    async fn flush(&self) {
        let target = self.queued.load(Ordering::Acquire);
        let mut settled = self.settled.subscribe();
        // A writer gone with its runtime settles nothing more: stop waiting then.
        tokio::select! {
            _ = settled.wait_for(|settled| *settled >= target) => {}
            () = self.sender.closed() => {}
        }
    }
}

/// What the click queue has done since the engine started: see
/// [`Engine::click_queue_stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ClickQueueStats {
    /// Clicks accepted into the queue.
    pub queued: u64,
    /// Clicks dropped, uncounted, because the queue was full (the writer falls behind under
    /// overload) or no writer could run; their redirects were answered all the same.
    pub dropped: u64,
    /// Queued clicks the writer has finished with: counted, held back as repeats, or lost
    /// to a storage error (logged).
    pub settled: u64,
}

/// The writer: takes up to [`CLICK_BATCH`] queued clicks at a time and counts them in one
/// storage call, until the engine (and with it the queue's sender) is dropped.
async fn write_clicks(
    storage: Arc<dyn Storage>,
    clock: Arc<dyn Clock>,
    mut receiver: mpsc::Receiver<Click>,
    settled: watch::Sender<u64>,
) {
    let mut batch = Vec::with_capacity(CLICK_BATCH);
    while receiver.recv_many(&mut batch, CLICK_BATCH).await > 0 {
        let now = now_on(clock.as_ref());
        let clicked = move |owner: Uuid, clicks: u64| -> OutboxMessage {
            event_message(
                EventType::ReferralClicked,
                Some(owner),
                json!({ "user_id": owner, "clicks": clicks }),
                now,
            )
        };
        if let Err(error) = storage.record_clicks(&batch, CLICK_WINDOW, &clicked).await {
            tracing::warn!(
                target: "referral::clicks",
                %error,
                lost = batch.len(),
                "clicks could not be counted"
            );
        }
        let done = batch.len() as u64;
        batch.clear();
        settled.send_modify(|settled| *settled += done);
    }
}

impl Engine {
    /// Follows a share link: the address to redirect to, `{APP_BASE_URL}/register?ref={code}`
    /// with the owner's current code, and one click queued for the owner (counted unless the
    /// same visitor — `client` and `user_agent`, hashed with a key of the engine's — had one
    /// counted in the last 24 hours).
    ///
    /// Never fails: a code nobody holds (or not a code at all) redirects to
    /// `{APP_BASE_URL}/register` and counts nothing; when storage cannot be reached, a
    /// well-formed code redirects with `?ref=` the code as given, uncounted. Counting happens
    /// later, in batches, on a background task; [`flush_clicks`](Self::flush_clicks) waits
    /// for it.
    pub async fn follow_share_link(
        &self,
        code: &str,
        client: Option<IpAddr>,
        user_agent: Option<&str>,
    ) -> String {
        let Ok(code) = ReferralCode::parse(code) else {
            return self.register_url(None);
        };
        match self.inner.storage.user_by_referral_code(&code).await {
            Ok(Some(owner)) => {
                let click = Click {
                    owner: owner.id,
                    visitor: self.inner.visitor_keys.visitor(client, user_agent),
                    at: self.now(),
                };
                self.inner
                    .clicks
                    .push(&self.inner.storage, &self.inner.clock, click);
                self.register_url(Some(&owner.referral_code))
            }
            Ok(None) => self.register_url(None),
            Err(error) => {
                tracing::warn!(target: "referral::clicks", %error, "share link followed while storage is unavailable");
                self.register_url(Some(&code))
            }
        }
    }

    /// The click queue's counters: accepted, dropped under overload, settled. A growing
    /// `dropped` means share links are followed faster than storage counts them (the
    /// redirects still answer; only counting is lost).
    pub fn click_queue_stats(&self) -> ClickQueueStats {
        self.inner.clicks.stats()
    }

    /// Waits until every click queued so far has been counted (or given up on): for tests,
    /// and for a clean shutdown.
    pub async fn flush_clicks(&self) {
        self.inner.clicks.flush().await;
    }

    /// `{APP_BASE_URL}{share_path}/{code}`.
    pub fn share_link(&self, code: &ReferralCode) -> String {
        let config = &self.inner.config;
        format!("{}{}/{}", config.app_base_url, config.share_path, code)
    }
}
