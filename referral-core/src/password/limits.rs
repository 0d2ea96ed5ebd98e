//! Admission to password hashing: how many argon2 computations run at once on tokio's
//! blocking pool, and how many callers may queue for one before the rest are turned away.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};

use crate::error::Error;

/// Callers that may queue per hashing slot by default. At the OWASP cost one hash takes
/// roughly 25–50 ms of a core, so a full queue drains in about 32 rounds ≈ 1–1.5 s whatever
/// the core count: longer than that, a client is better served by a fast `503` with
/// `Retry-After` than by a request held open (and a connection tied up) behind the queue.
pub const DEFAULT_WAITING_PER_SLOT: usize = 32;

/// How many password hashes run at once, and how many callers may wait for one.
///
/// Each running hash holds its argon2 memory (`memory_kib`) on a blocking thread. Callers past
/// `concurrency` wait; callers past `concurrency + max_waiting` get [`Error::Overloaded`] at
/// once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashingLimits {
    /// Hashes and verifications computed at once (at least 1). Default: one per CPU core;
    /// running more than there are cores only adds memory and latency.
    pub concurrency: usize,
    /// Callers that may wait for a free slot; one more is refused at once with
    /// [`Error::Overloaded`]. `0` refuses whenever every slot is busy. Default:
    /// [`DEFAULT_WAITING_PER_SLOT`] per slot.
    pub max_waiting: usize,
}

impl Default for HashingLimits {
    /// One slot per CPU core (2 when unknown), [`DEFAULT_WAITING_PER_SLOT`] waiting per slot.
    fn default() -> Self {
        Self::with_concurrency(std::thread::available_parallelism().map_or(2, |n| n.get()))
    }
}

impl HashingLimits {
    /// `concurrency` slots with [`DEFAULT_WAITING_PER_SLOT`] callers waiting per slot.
    pub fn with_concurrency(concurrency: usize) -> Self {
        HashingLimits {
            concurrency,
            max_waiting: concurrency.saturating_mul(DEFAULT_WAITING_PER_SLOT),
        }
    }

    /// Checks the values a hasher accepts.
    pub fn validate(&self) -> Result<(), Error> {
        if self.concurrency == 0 {
            return Err(Error::Config(
                "hashing concurrency must be at least 1 (one hash at a time)".into(),
            ));
        }
        if self.concurrency > Semaphore::MAX_PERMITS {
            return Err(Error::Config(format!(
                "hashing concurrency must be at most {}; about one per CPU core is best",
                Semaphore::MAX_PERMITS
            )));
        }
        Ok(())
    }
}

/// The slots, the queue in front of them and the load counters, shared by a hasher and its
/// clones.
pub(super) struct Admission {
    limits: HashingLimits,
    slots: Arc<Semaphore>,
    waiting: AtomicUsize,
    running: AtomicUsize,
    peak_running: AtomicUsize,
    /// How long the last computation took, for the `Retry-After` estimate.
    last_run_micros: AtomicU64,
}

impl Admission {
    /// Admission with `limits` (validated).
    pub(super) fn new(limits: HashingLimits) -> Result<Self, Error> {
        limits.validate()?;
        Ok(Admission {
            limits,
            slots: Arc::new(Semaphore::new(limits.concurrency)),
            waiting: AtomicUsize::new(0),
            running: AtomicUsize::new(0),
            peak_running: AtomicUsize::new(0),
            last_run_micros: AtomicU64::new(0),
        })
    }

    /// The limits this admission enforces.
    pub(super) fn limits(&self) -> HashingLimits {
        self.limits
    }

    /// Runs `work` on the blocking pool once a slot is free, and holds the slot until `work`
    /// returns, even when the caller stops waiting for it: a cancelled request must not let
    /// another computation start beside one still running.
    pub(super) async fn run<T: Send + 'static>(
        self: &Arc<Self>,
        work: impl FnOnce() -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        let slot = self.slot().await?;
        let admission = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let result = admission.compute(work);
            // Only now may the next computation start.
            drop(slot);
            result
        })
        .await
        .map_err(|e| Error::Internal(format!("password hashing task failed: {e}")))?
    }

    /// Computations running now.
    pub(super) fn running(&self) -> usize {
        self.running.load(Ordering::Acquire)
    }

    /// The most computations that ever ran at once.
    pub(super) fn peak_running(&self) -> usize {
        self.peak_running.load(Ordering::Acquire)
    }

    /// Callers waiting for a slot now.
    pub(super) fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Acquire)
    }

    /// A free slot, after waiting in the queue if there is room in it.
    async fn slot(&self) -> Result<OwnedSemaphorePermit, Error> {
        match Arc::clone(&self.slots).try_acquire_owned() {
            Ok(slot) => return Ok(slot),
            Err(TryAcquireError::NoPermits) => {}
            Err(TryAcquireError::Closed) => return Err(shut_down()),
        }
        let _queued = self.queue()?;
        Arc::clone(&self.slots)
            .acquire_owned()
            .await
            .map_err(|_| shut_down())
    }

    /// A place in the queue, or [`Error::Overloaded`] when it is full. The count is taken
    /// first and judged after, so two callers racing for the last place cannot both get it.
    fn queue(&self) -> Result<Queued<'_>, Error> {
        let ahead = self.waiting.fetch_add(1, Ordering::AcqRel);
        let queued = Queued(&self.waiting);
        if ahead >= self.limits.max_waiting {
            return Err(Error::Overloaded {
                retry_after_secs: self.retry_after_secs(),
            });
        }
        Ok(queued)
    }

    /// Runs `work` counted as running, and times it.
    fn compute<T>(&self, work: impl FnOnce() -> T) -> T {
        let now = self.running.fetch_add(1, Ordering::AcqRel) + 1;
        let _running = Running(&self.running);
        self.peak_running.fetch_max(now, Ordering::AcqRel);
        let started = Instant::now();
        let result = work();
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.last_run_micros.store(micros, Ordering::Relaxed);
        result
    }

    /// About how long a full queue takes to drain: one computation per slot per round, at the
    /// last computation's pace; at least a second.
    fn retry_after_secs(&self) -> u64 {
        let rounds = self.limits.max_waiting.div_ceil(self.limits.concurrency) + 1;
        let rounds = u64::try_from(rounds).unwrap_or(u64::MAX);
        let micros = self.last_run_micros.load(Ordering::Relaxed);
        micros.saturating_mul(rounds).div_ceil(1_000_000).max(1)
    }
}

fn shut_down() -> Error {
    Error::Internal("password hasher is shut down".into())
}

/// A caller's place in the queue; leaving it (by getting a slot, or by being cancelled)
/// gives the place back.
struct Queued<'a>(&'a AtomicUsize);

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One running computation, counted until it ends (or unwinds).
struct Running<'a>(&'a AtomicUsize);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Condvar, Mutex};

    /// A gate computations stop at until the test opens it ([`Busy`] opens it when dropped).
    struct Gate {
        open: Mutex<bool>,
        opened: Condvar,
        /// One permit per computation that reached the gate.
        arrived: Semaphore,
    }

    impl Gate {
        fn new() -> Arc<Self> {
            Arc::new(Gate {
                open: Mutex::new(false),
                opened: Condvar::new(),
                arrived: Semaphore::new(0),
            })
        }

        /// Waits until `count` more computations have reached the gate.
        async fn arrivals(&self, count: u32) {
            self.arrived.acquire_many(count).await.unwrap().forget();
        }

        fn pass(&self) {
            self.arrived.add_permits(1);
            let mut open = self.open.lock().unwrap();
            while !*open {
                open = self.opened.wait(open).unwrap();
            }
        }

        fn open(&self) {
            *self.open.lock().unwrap() = true;
            self.opened.notify_all();
        }
    }

    fn admission(concurrency: usize, max_waiting: usize) -> Arc<Admission> {
        Arc::new(
            Admission::new(HashingLimits {
                concurrency,
                max_waiting,
            })
            .unwrap(),
        )
    }

    /// Computations held at a gate, and the callers queued behind them.
    struct Busy {
        admission: Arc<Admission>,
        gate: Arc<Gate>,
        tasks: Vec<tokio::task::JoinHandle<Result<(), Error>>>,
    }

    impl Busy {
        /// `callers` gated computations under `concurrency` slots and `max_waiting` places,
        /// once the slots are taken and the rest of the callers queue.
        async fn new(concurrency: usize, max_waiting: usize, callers: usize) -> Self {
            let mut busy = Busy {
                admission: admission(concurrency, max_waiting),
                gate: Gate::new(),
                tasks: Vec::new(),
            };
            busy.tasks = (0..callers).map(|_| busy.spawn()).collect();
            let running = callers.min(concurrency);
            busy.gate.arrivals(u32::try_from(running).unwrap()).await;
            until(|| busy.admission.waiting() == callers - running).await;
            busy
        }

        /// One more caller, computing at the gate.
        fn spawn(&self) -> tokio::task::JoinHandle<Result<(), Error>> {
            let admission = Arc::clone(&self.admission);
            let gate = Arc::clone(&self.gate);
            tokio::spawn(async move {
                admission
                    .run(move || {
                        gate.pass();
                        Ok(())
                    })
                    .await
            })
        }
    }

    impl Drop for Busy {
        /// A failing test must not leave blocking threads parked: the runtime waits for them.
        fn drop(&mut self) {
            self.gate.open();
        }
    }

    /// Lets every spawned task run until it waits on something (current-thread runtime).
    async fn until(mut condition: impl FnMut() -> bool) {
        while !condition() {
            tokio::task::yield_now().await;
        }
    }

    async fn cancel(tasks: Vec<tokio::task::JoinHandle<Result<(), Error>>>) {
        for task in &tasks {
            task.abort();
        }
        for task in tasks {
            assert!(task.await.unwrap_err().is_cancelled());
        }
    }

    #[tokio::test]
    async fn a_computation_keeps_its_slot_after_its_caller_is_cancelled() {
        let mut busy = Busy::new(2, 64, 8).await;
        let admission = Arc::clone(&busy.admission);
        cancel(std::mem::take(&mut busy.tasks)).await;
        assert_eq!(admission.waiting(), 0, "cancelled waiters leave the queue");
        assert_eq!(admission.running(), 2, "cancelled computations still run");

        let next: Vec<_> = (0..4).map(|_| busy.spawn()).collect();
        until(|| admission.waiting() == 4 || admission.running() > 2).await;
        assert_eq!(admission.running(), 2);
        assert_eq!(admission.peak_running(), 2);
        busy.gate.open();
        for task in next {
            task.await.unwrap().unwrap();
        }
        // The cancelled computations end on their own, unawaited.
        until(|| admission.running() == 0).await;
        assert_eq!(admission.peak_running(), 2);
        assert_eq!(admission.waiting(), 0);
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once_and_admits_again_once_drained() {
        let mut busy = Busy::new(1, 2, 3).await;
        let admission = Arc::clone(&busy.admission);
        let refused = tokio::select! {
            biased;
            result = admission.run(|| Ok(())) => result,
            () = std::future::ready(()) => panic!("a caller past a full queue waited"),
        };
        let Err(Error::Overloaded { retry_after_secs }) = refused else {
            panic!("expected Overloaded, got {refused:?}");
        };
        assert!(retry_after_secs >= 1);
        assert_eq!(admission.waiting(), 2, "a refused caller takes no place");

        busy.gate.open();
        for task in std::mem::take(&mut busy.tasks) {
            task.await.unwrap().unwrap();
        }
        admission.run(|| Ok(())).await.unwrap();
        assert_eq!(admission.waiting(), 0);
    }

    #[tokio::test]
    async fn a_cancelled_waiter_gives_its_place_to_the_next_caller() {
        let mut busy = Busy::new(1, 1, 2).await;
        let admission = Arc::clone(&busy.admission);
        let waiter = busy.tasks.pop().unwrap();
        cancel(vec![waiter]).await;
        assert_eq!(admission.waiting(), 0);
        let next = busy.spawn();
        until(|| admission.waiting() == 1 || next.is_finished()).await;
        assert!(!next.is_finished(), "the next caller queues, not refused");
        busy.gate.open();
        next.await.unwrap().unwrap();
    }

    #[test]
    fn retry_after_is_the_queue_drain_time_at_the_last_pace_and_at_least_a_second() {
        let admission = admission(2, 64);
        assert_eq!(admission.retry_after_secs(), 1);
        admission.last_run_micros.store(40_000, Ordering::Relaxed);
        // 64 waiting on 2 slots: 32 rounds, plus the one running.
        assert_eq!(admission.retry_after_secs(), 2);
    }

    #[test]
    fn zero_slots_are_refused() {
        assert!(matches!(
            HashingLimits {
                concurrency: 0,
                max_waiting: 1
            }
            .validate(),
            Err(Error::Config(_))
        ));
        assert!(HashingLimits::default().validate().is_ok());
        assert_eq!(
            HashingLimits::default().max_waiting,
            HashingLimits::default().concurrency * DEFAULT_WAITING_PER_SLOT
        );
    }
}
