//! Passwords: the rules a new password must meet, and argon2id hashing off the async runtime.

mod limits;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use argon2::password_hash::{rand_core::OsRng, Output, ParamsString, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::OnceCell;
use unicode_normalization::UnicodeNormalization;

use crate::common_passwords;
use crate::email::Email;
use crate::error::Error;
use limits::Admission;
pub use limits::{HashingLimits, DEFAULT_WAITING_PER_SLOT};

/// Fewest Unicode scalar values in a password (after NFKC).
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Most Unicode scalar values in a password (after NFKC).
pub const MAX_PASSWORD_CHARS: usize = 128;

/// A password as typed, normalised to NFKC: the form that is hashed and verified, so the
/// same text typed with composed or decomposed accents logs in alike.
///
/// Its `Debug` never shows the text.
#[derive(Clone)]
pub struct Password(String);

/// Why a new password is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordProblem {
    /// Fewer than 8 characters.
    TooShort,
    /// More than 128 characters.
    TooLong,
    /// The same as the account's email.
    SameAsEmail,
    /// On the shipped list of common passwords.
    Common,
}

impl PasswordProblem {
    /// A stable snake_case code for validation error lists.
    pub fn code(self) -> &'static str {
        match self {
            PasswordProblem::TooShort => "too_short",
            PasswordProblem::TooLong => "too_long",
            PasswordProblem::SameAsEmail => "same_as_email",
            PasswordProblem::Common => "too_common",
        }
    }

    /// A sentence a user can act on.
    pub fn message(self) -> &'static str {
        match self {
            PasswordProblem::TooShort => "Password must be at least 8 characters",
            PasswordProblem::TooLong => "Password must be at most 128 characters",
            PasswordProblem::SameAsEmail => "Password must not be the same as the email",
            PasswordProblem::Common => "Password is too common; choose a less predictable one",
        }
    }
}

impl Password {
    /// Normalises `raw` without judging it: what a login compares.
    pub fn normalise(raw: &str) -> Self {
        Password(raw.nfkc().collect())
    }

    /// Normalises `raw` and checks it against the rules for a new password of the account
    /// `email` (when known).
    pub fn new_for(raw: &str, email: Option<&Email>) -> Result<Self, PasswordProblem> {
        let password = Self::normalise(raw);
        let chars = password.0.chars().count();
        if chars < MIN_PASSWORD_CHARS {
            return Err(PasswordProblem::TooShort);
        }
        if chars > MAX_PASSWORD_CHARS {
            return Err(PasswordProblem::TooLong);
        }
        if email.is_some_and(|email| password.0.trim().to_lowercase() == email.as_str()) {
            return Err(PasswordProblem::SameAsEmail);
        }
        if common_passwords::is_common(&password.0) {
            return Err(PasswordProblem::Common);
        }
        Ok(password)
    }

    fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// An argon2 hash in PHC string format (`$argon2id$v=19$m=19456,t=2,p=1$…`).
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Wraps a PHC string read back from storage.
    pub fn from_phc(phc: impl Into<String>) -> Self {
        PasswordHash(phc.into())
    }

    /// The PHC string, for storage.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Params {
    /// Memory in KiB (OWASP: 19456).
    pub memory_kib: u32,
    /// Iterations (OWASP: 2).
    pub iterations: u32,
    /// Lanes (OWASP: 1).
    pub parallelism: u32,
}

impl Default for Argon2Params {
    /// OWASP's recommended argon2id configuration: m=19456 KiB, t=2, p=1.
    fn default() -> Self {
        Argon2Params {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

impl Argon2Params {
    /// Checks the values argon2 accepts.
    pub fn validate(&self) -> Result<Params, Error> {
        Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map_err(|e| Error::Config(format!("invalid argon2 parameters: {e}")))
    }
}

/// Hashes and verifies passwords with argon2id on tokio's blocking pool.
///
/// At most [`HashingLimits::concurrency`] computations run at once (one per CPU core by
/// default): each takes `memory_kib` of RAM, and running more at once than there are cores
/// only adds memory and latency. A computation keeps its slot until it ends, even when the
/// request that started it is cancelled. Up to [`HashingLimits::max_waiting`] callers wait
/// for a slot; past that, a call fails at once with [`Error::Overloaded`].
#[derive(Clone)]
pub struct PasswordHasher {
    argon2: Argon2<'static>,
    params: Argon2Params,
    admission: Arc<Admission>,
    dummy: Arc<OnceCell<PasswordHash>>,
    verifications: Arc<AtomicU64>,
    memory: Arc<MemoryPool>,
}

/// Argon2 working memory kept between hashes. Allocating `memory_kib` per hash on whichever
/// blocking thread runs it leaves that much cached in each thread's malloc arena, so a busy
/// server's RSS grows to (threads × memory); keeping at most one buffer per hashing slot
/// holds it at (slots × memory).
struct MemoryPool {
    buffers: Mutex<Vec<Vec<Block>>>,
    /// The most buffers kept; one handed back past this is freed.
    capacity: usize,
}

impl MemoryPool {
    /// An empty pool keeping at most `capacity` buffers.
    fn new(capacity: usize) -> Self {
        MemoryPool {
            buffers: Mutex::new(Vec::new()),
            capacity,
        }
    }

    /// Runs `work` with a zeroed-on-demand buffer of `blocks` blocks, kept for the next
    /// computation after if the pool has room for it.
    fn with<T>(&self, blocks: usize, work: impl FnOnce(&mut [Block]) -> T) -> T {
        let mut buffer = self.buffers().pop().unwrap_or_default();
        // Argon2 overwrites every block before reading it, so a reused buffer needs no clearing.
        buffer.resize(blocks, Block::default());
        let result = work(&mut buffer);
        let mut buffers = self.buffers();
        if buffers.len() < self.capacity {
            buffers.push(buffer);
        }
        result
    }

    /// How many buffers are kept now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.buffers().len()
    }

    fn buffers(&self) -> std::sync::MutexGuard<'_, Vec<Vec<Block>>> {
        self.buffers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("params", &self.params)
            .field("limits", &self.admission.limits())
            .finish()
    }
}

impl PasswordHasher {
    /// A hasher with the given cost and the default [`HashingLimits`].
    pub fn new(params: Argon2Params) -> Result<Self, Error> {
        Self::with_limits(params, HashingLimits::default())
    }

    /// A hasher with the given cost, running at most `limits.concurrency` computations at
    /// once with at most `limits.max_waiting` callers queued.
    pub fn with_limits(params: Argon2Params, limits: HashingLimits) -> Result<Self, Error> {
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.validate()?);
        let admission = Admission::new(limits)?;
        Ok(PasswordHasher {
            argon2,
            params,
            admission: Arc::new(admission),
            dummy: Arc::new(OnceCell::new()),
            verifications: Arc::new(AtomicU64::new(0)),
            memory: Arc::new(MemoryPool::new(limits.concurrency)),
        })
    }

    /// The limits this hasher runs under.
    pub fn limits(&self) -> HashingLimits {
        self.admission.limits()
    }

    /// Hashes and verifications computing now (never more than
    /// [`HashingLimits::concurrency`]).
    pub fn running(&self) -> usize {
        self.admission.running()
    }

    /// The most hashes and verifications that ever computed at once.
    pub fn peak_running(&self) -> usize {
        self.admission.peak_running()
    }

    /// Callers waiting for a free slot now (never more than [`HashingLimits::max_waiting`]).
    pub fn waiting(&self) -> usize {
        self.admission.waiting()
    }

    /// Hashes `password` with a fresh random salt.
    pub async fn hash(&self, password: &Password) -> Result<PasswordHash, Error> {
        let argon2 = self.argon2.clone();
        let password = password.clone();
        let memory = self.memory.clone();
        self.blocking(move || {
            let failed =
                |e: &dyn fmt::Display| Error::Internal(format!("password hashing failed: {e}"));
            let salt = SaltString::generate(&mut OsRng);
            let mut salt_bytes = [0u8; 64];
            let salt_bytes = salt.decode_b64(&mut salt_bytes).map_err(|e| failed(&e))?;
            let params = argon2.params().clone();
            let output = Output::init_with(
                params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN),
                |out| {
                    memory
                        .with(params.block_count(), |blocks| {
                            argon2.hash_password_into_with_memory(
                                password.as_bytes(),
                                salt_bytes,
                                out,
                                blocks,
                            )
                        })
                        .map_err(|_| argon2::password_hash::Error::Password)
                },
            )
            .map_err(|e| failed(&e))?;
            let phc = argon2::PasswordHash {
                algorithm: Algorithm::Argon2id.ident(),
                version: Some(Version::V0x13.into()),
                params: ParamsString::try_from(&params).map_err(|e| failed(&e))?,
                salt: Some(salt.as_salt()),
                hash: Some(output),
            };
            Ok(PasswordHash(phc.to_string()))
        })
        .await
    }

    /// Whether `password` matches `hash` (compared in constant time). A hash that cannot be
    /// parsed verifies as `false`.
    pub async fn verify(&self, password: &Password, hash: &PasswordHash) -> Result<bool, Error> {
        let password = password.clone();
        let hash = hash.clone();
        let memory = self.memory.clone();
        self.verifications.fetch_add(1, Ordering::Relaxed);
        self.blocking(move || Ok(verify_phc(&memory, &password, &hash).unwrap_or(false)))
            .await
    }

    /// Spends the time of one verification against a hash nobody can match, so a login for
    /// an unknown email takes as long as one with a wrong password.
    pub async fn verify_dummy(&self, password: &Password) -> Result<(), Error> {
        let dummy = self
            .dummy
            .get_or_try_init(|| async {
                let random: String = uuid::Uuid::new_v4().simple().to_string();
                self.hash(&Password::normalise(&random)).await
            })
            .await?
            .clone();
        self.verify(password, &dummy).await.map(|_| ())
    }

    /// How many verifications this hasher (and its clones) has run, dummy ones included:
    /// a login for an unknown email counts one, like a login with a wrong password.
    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }

    /// Whether `hash` was made with other parameters (or another algorithm) than this
    /// hasher's, so it should be replaced at the next successful login.
    pub fn needs_rehash(&self, hash: &PasswordHash) -> bool {
        let Ok(parsed) = argon2::PasswordHash::new(&hash.0) else {
            return true;
        };
        let Ok(params) = Params::try_from(&parsed) else {
            return true;
        };
        parsed.algorithm != Algorithm::Argon2id.ident()
            || parsed.version != Some(Version::V0x13.into())
            || params.m_cost() != self.params.memory_kib
            || params.t_cost() != self.params.iterations
            || params.p_cost() != self.params.parallelism
    }

    /// Runs `work` on the blocking pool within this hasher's limits.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        self.admission.run(work).await
    }
}

/// Recomputes the hash in `phc` for `password` with `phc`'s own algorithm, version, cost and
/// salt; `None` when `phc` is not a parsable argon2 hash.
fn verify_phc(memory: &MemoryPool, password: &Password, phc: &PasswordHash) -> Option<bool> {
    let parsed = argon2::PasswordHash::new(&phc.0).ok()?;
    let expected = parsed.hash?;
    let algorithm = Algorithm::try_from(parsed.algorithm).ok()?;
    let version = parsed
        .version
        .map(Version::try_from)
        .transpose()
        .ok()?
        .unwrap_or_default();
    let params = Params::try_from(&parsed).ok()?;
    let blocks = params.block_count();
    let argon2 = Argon2::new(algorithm, version, params);
    let mut salt_bytes = [0u8; 64];
    let salt = parsed.salt?.decode_b64(&mut salt_bytes).ok()?;
    let mut out = vec![0u8; expected.len()];
    memory
        .with(blocks, |buffer| {
            argon2.hash_password_into_with_memory(password.as_bytes(), salt, &mut out, buffer)
        })
        .ok()?;
    // `Output`'s equality is constant-time.
    Some(Output::new(&out).ok()? == expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> PasswordHasher {
        PasswordHasher::new(Argon2Params {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        })
        .unwrap()
    }

    #[test]
    fn composed_and_decomposed_accents_normalise_alike() {
        assert_eq!(
            Password::normalise("caf\u{e9}-secret").0,
            Password::normalise("cafe\u{301}-secret").0
        );
    }

    #[test]
    fn length_is_counted_in_scalar_values_after_nfkc() {
        assert_eq!(
            Password::new_for("ééééééé", None).err(),
            Some(PasswordProblem::TooShort)
        );
        assert!(Password::new_for("éééééééé", None).is_ok());
        assert_eq!(
            Password::new_for(&"x".repeat(129), None).err(),
            Some(PasswordProblem::TooLong)
        );
        assert!(Password::new_for(&"xy".repeat(64), None).is_ok());
    }

    #[test]
    fn a_password_equal_to_the_email_is_refused() {
        let email = Email::parse("someone@example.com").unwrap();
        assert_eq!(
            Password::new_for("Someone@Example.com", Some(&email)).err(),
            Some(PasswordProblem::SameAsEmail)
        );
    }

    #[test]
    fn common_passwords_are_refused() {
        assert_eq!(
            Password::new_for("password123", None).err(),
            Some(PasswordProblem::Common)
        );
    }

    #[test]
    fn debug_output_hides_the_password() {
        assert!(!format!("{:?}", Password::normalise("hunter22hunter")).contains("hunter"));
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_no_other() {
        let hasher = cheap();
        let hash = hasher
            .hash(&Password::normalise("caf\u{e9} au lait"))
            .await
            .unwrap();
        assert!(hash.as_str().starts_with("$argon2id$"));
        assert!(hasher
            .verify(&Password::normalise("cafe\u{301} au lait"), &hash)
            .await
            .unwrap());
        assert!(!hasher
            .verify(&Password::normalise("the wrong one"), &hash)
            .await
            .unwrap());
        assert!(!hasher
            .verify(
                &Password::normalise("x"),
                &PasswordHash::from_phc("garbage")
            )
            .await
            .unwrap());
    }

    #[tokio::test]
    async fn hashes_with_other_parameters_need_rehashing() {
        let hasher = cheap();
        let hash = hasher.hash(&Password::normalise("abcdefgh")).await.unwrap();
        assert!(!hasher.needs_rehash(&hash));
        let stronger = PasswordHasher::new(Argon2Params {
            memory_kib: 128,
            iterations: 1,
            parallelism: 1,
        })
        .unwrap();
        assert!(stronger.needs_rehash(&hash));
        assert!(stronger.needs_rehash(&PasswordHash::from_phc("$2b$12$notargon")));
    }

    #[tokio::test]
    async fn hashes_interoperate_with_the_argon2_crates_own_phc_api() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let hasher = cheap();
        let password = Password::normalise("interoperable secret");
        let ours = hasher.hash(&password).await.unwrap();
        let parsed = argon2::PasswordHash::new(ours.as_str()).unwrap();
        assert!(Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok());
        let params = Params::new(64, 1, 1, None).unwrap();
        let theirs = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(password.as_bytes(), &SaltString::generate(&mut OsRng))
            .unwrap()
            .to_string();
        assert!(hasher
            .verify(&password, &PasswordHash::from_phc(theirs.clone()))
            .await
            .unwrap());
        assert!(!hasher
            .verify(
                &Password::normalise("other"),
                &PasswordHash::from_phc(theirs)
            )
            .await
            .unwrap());
    }

    /// Slow enough (tens of milliseconds a hash) that a cancelled computation is still running
    /// when the next callers arrive, however loaded the machine: a slower machine only widens
    /// the window the test looks through.
    const SLOW: Argon2Params = Argon2Params {
        memory_kib: 16 * 1024,
        iterations: 4,
        parallelism: 1,
    };

    #[tokio::test]
    async fn cancelled_hash_requests_never_let_more_than_the_limit_compute_at_once() {
        let limits = HashingLimits {
            concurrency: 2,
            max_waiting: 64,
        };
        let hasher = PasswordHasher::with_limits(SLOW, limits).unwrap();
        let password = Password::normalise("a slow secret");
        let spawn = |count: usize| -> Vec<tokio::task::JoinHandle<_>> {
            (0..count)
                .map(|_| {
                    let (hasher, password) = (hasher.clone(), password.clone());
                    tokio::spawn(async move { hasher.hash(&password).await })
                })
                .collect()
        };
        // Eight requests, cancelled (as when clients hang up) once two are computing.
        let cancelled = spawn(8);
        while hasher.running() < 2 || hasher.waiting() < 6 {
            tokio::task::yield_now().await;
        }
        for task in &cancelled {
            task.abort();
        }
        for task in cancelled {
            assert!(task.await.unwrap_err().is_cancelled());
        }
        assert_eq!(hasher.waiting(), 0, "cancelled waiters leave the queue");
        // Four new requests arrive while the cancelled computations still run.
        let next = spawn(4);
        for task in next {
            task.await.unwrap().unwrap();
        }
        // The cancelled computations end on their own, unawaited.
        while hasher.running() > 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!(hasher.peak_running(), 2);
        assert!(
            hasher.memory.len() <= 2,
            "{} buffers kept for 2 slots",
            hasher.memory.len()
        );
    }

    #[test]
    fn the_buffer_pool_frees_buffers_beyond_its_capacity() {
        let pool = MemoryPool::new(2);
        pool.with(8, |_| pool.with(8, |_| pool.with(8, |_| ())));
        assert_eq!(pool.len(), 2);
        pool.with(8, |_| ());
        assert_eq!(pool.len(), 2, "a kept buffer is reused");
    }

    #[test]
    fn unusable_limits_are_refused() {
        let no_slots = HashingLimits {
            concurrency: 0,
            max_waiting: 8,
        };
        assert!(matches!(
            PasswordHasher::with_limits(Argon2Params::default(), no_slots),
            Err(Error::Config(_))
        ));
    }

    #[test]
    fn default_parameters_follow_owasp() {
        assert_eq!(
            Argon2Params::default(),
            Argon2Params {
                memory_kib: 19_456,
                iterations: 2,
                parallelism: 1
            }
        );
    }
}
