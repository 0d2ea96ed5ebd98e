//! Sessions never outlive a password reset, whatever lands in between: each case runs an
//! engine operation and a reset interleaved at one exact step, holding the operation there
//! with a [`PausingStorage`] over the storage under test.
//!
//! These are engine-level rules that only hold if the storage keeps its atomicity promises
//! (a refresh token is stored only at its user's current token version, a rehash replaces
//! only the hash just verified), so every `Storage` runs them. One line per storage:
//!
//! ```ignore
//! referral_core::session_race_tests!(async { MyStorage::connect_to_a_fresh_database().await });
//! ```
//!
//! gives one `#[tokio::test]` per case, each against a fresh storage from the constructor
//! (anything implementing [`StorageUnderTest`](super::StorageUnderTest), as for
//! [`storage_contract_tests!`](crate::storage_contract_tests)). The cases are plain
//! `pub async fn`s taking an `Arc<dyn Storage>`, to call by hand as well.
//!
//! Not API-stable: cases are added as rules are.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::ManualClock;
use crate::config::Config;
use crate::engine::{Engine, NewAccount};
use crate::error::Error;
use crate::mailer::RecordingMailer;
use crate::password::Argon2Params;
use crate::storage::Storage;
use crate::tokens::Tokens;

use super::pausing::{Pause, PausingStorage, StorageCall};
use super::reset_link::reset_token_in;

const APP_BASE_URL: &str = "https://app.example.com";
const OLD_PASSWORD: &str = "correct horse battery";
const NEW_PASSWORD: &str = "a brand new passphrase";

/// How long a case waits for an operation to reach its pause.
const WAIT: Duration = Duration::from_secs(10);

/// The cheapest argon2 cost: the cases are about order, not hashing.
const CHEAP: Argon2Params = Argon2Params {
    memory_kib: 64,
    iterations: 1,
    parallelism: 1,
};

/// Another cost, so an engine configured with it rehashes a password hashed with [`CHEAP`].
const UPGRADED: Argon2Params = Argon2Params {
    memory_kib: 128,
    iterations: 1,
    parallelism: 1,
};

/// An engine on `storage` hashing with `argon2`, mailing into a recorder.
fn engine_on(storage: &PausingStorage, argon2: Argon2Params) -> (Engine, RecordingMailer) {
    let config = Config::builder()
        .secret("session-race-secret-session-race-secret")
        .app_base_url(APP_BASE_URL)
        .argon2(argon2)
        // The scenes count the reset mail alone.
        .verification_mail_on_sign_up(false)
        .build()
        .expect("a valid test configuration");
    let mailer = RecordingMailer::new();
    let engine = Engine::builder(config)
        .storage(Arc::new(storage.clone()))
        .mailer(Arc::new(mailer.clone()))
        .clock(Arc::new(ManualClock::starting_now()))
        .build()
        .expect("a valid test engine");
    (engine, mailer)
}

/// A user registered with [`OLD_PASSWORD`] (hashed at the [`CHEAP`] cost) who asked for a
/// reset and got the mail, on an engine over a pausing storage.
struct Scene {
    storage: PausingStorage,
    engine: Engine,
    email: String,
    /// The refresh token of the session registration started.
    refresh_token: String,
    /// The token from the mailed reset link.
    reset_token: String,
}

impl Scene {
    async fn new(storage: Arc<dyn Storage>, email: &str) -> Scene {
        let storage = PausingStorage::new(storage);
        let (engine, mailer) = engine_on(&storage, CHEAP);
        let registered = engine
            .register(NewAccount::new(email, OLD_PASSWORD))
            .await
            .expect("registration");
        engine
            .request_password_reset(email, None)
            .await
            .expect("a reset request is accepted");
        let report = engine
            .outbox_dispatcher()
            .dispatch_due()
            .await
            .expect("the outbox is delivered");
        assert_eq!(report.sent, 1, "one reset mail for {email}: {report:?}");
        let mail = mailer.messages().pop().expect("a mail was recorded");
        let reset_token =
            reset_token_in(&mail.text, APP_BASE_URL).expect("the mail carries a reset link");
        Scene {
            storage,
            engine,
            email: email.to_owned(),
            refresh_token: registered.tokens.refresh_token,
            reset_token,
        }
    }

    /// Runs `operation` on a task of its own until `pause` holds it, lets the reset land
    /// meanwhile, then lets the operation finish: its outcome. Fails the case if the
    /// operation never reaches its pause (`at` says where that is).
    async fn with_the_reset_landing<T: Send + 'static>(
        &self,
        mut pause: Pause,
        at: &str,
        operation: impl Future<Output = T> + Send + 'static,
    ) -> T {
        let task = tokio::spawn(operation);
        if tokio::time::timeout(WAIT, pause.reached()).await.is_err() {
            panic!("the operation never reached its pause {at}");
        }
        self.engine
            .confirm_password_reset(&self.reset_token, NEW_PASSWORD)
            .await
            .expect("the reset goes through");
        pause.release();
        task.await.expect("the operation's task")
    }

    /// A login with the old password on `engine` (this scene's or another server's), to run.
    fn old_password_login(
        &self,
        engine: &Engine,
    ) -> impl Future<Output = Result<Tokens, Error>> + Send + 'static {
        let (engine, email) = (engine.clone(), self.email.clone());
        async move { engine.login(&email, OLD_PASSWORD).await }
    }
}

/// A login that read the user (and so the hash it checks) before a reset, or checked the
/// password and is about to store its session when the reset lands, stores no session: it
/// fails with [`Error::InvalidCredentials`], and no refresh token of the user works after
/// the reset.
pub async fn a_login_whose_password_check_straddles_a_reset_starts_no_session(
    storage: Arc<dyn Storage>,
) {
    type Arm = fn(&PausingStorage, StorageCall) -> Pause;
    let points: [(Arm, StorageCall); 2] = [
        (PausingStorage::pause_after, StorageCall::UserByEmail),
        (
            PausingStorage::pause_before,
            StorageCall::InsertRefreshToken,
        ),
    ];
    for (n, (arm, point)) in points.into_iter().enumerate() {
        let scene = Scene::new(storage.clone(), &format!("straddle{n}@example.com")).await;
        let login = scene.old_password_login(&scene.engine);
        let outcome = scene
            .with_the_reset_landing(arm(&scene.storage, point), &format!("at {point:?}"), login)
            .await;
        assert!(
            matches!(outcome, Err(Error::InvalidCredentials)),
            "a login straddling a reset (held at {point:?}) must start no session: {outcome:?}"
        );
        assert!(
            matches!(
                scene.engine.refresh(&scene.refresh_token).await,
                Err(Error::InvalidRefreshToken)
            ),
            "the session from before the reset ended"
        );
        assert!(
            scene.engine.login(&scene.email, NEW_PASSWORD).await.is_ok(),
            "the new password logs in"
        );
    }
}

/// A refresh whose rotation lands just before a reset answers tokens the reset retires: its
/// access token is refused and its refresh token does not rotate.
pub async fn a_refresh_that_rotates_just_before_a_reset_yields_tokens_the_reset_retires(
    storage: Arc<dyn Storage>,
) {
    let scene = Scene::new(storage, "rotating@example.com").await;
    let refresh = {
        let (engine, presented) = (scene.engine.clone(), scene.refresh_token.clone());
        async move { engine.refresh(&presented).await }
    };
    let pause = scene.storage.pause_after(StorageCall::RotateRefreshToken);
    let rotated = scene
        .with_the_reset_landing(pause, "after the rotation", refresh)
        .await
        .expect("the rotation happened before the reset, so the refresh answers");
    assert!(
        matches!(
            scene.engine.authenticate(&rotated.access_token).await,
            Err(Error::Unauthorized)
        ),
        "an access token from a rotation before the reset is refused after it"
    );
    assert!(
        matches!(
            scene.engine.refresh(&rotated.refresh_token).await,
            Err(Error::InvalidRefreshToken)
        ),
        "a refresh token from a rotation before the reset is revoked by it"
    );
}

/// The opportunistic rehash at login never writes a hash of the old password over the one a
/// reset set meanwhile: with the reset landing between the check and the rehash, the new
/// password works afterwards and the old one does not.
pub async fn a_rehash_at_login_never_writes_the_old_password_over_a_reset(
    storage: Arc<dyn Storage>,
) {
    let scene = Scene::new(storage, "rehash@example.com").await;
    // Another server, configured with a new cost: its logins rehash the stored password.
    let (upgraded, _) = engine_on(&scene.storage, UPGRADED);
    let pause = scene.storage.pause_before(StorageCall::ReplacePasswordHash);
    let login = scene.old_password_login(&upgraded);
    let outcome = scene
        .with_the_reset_landing(pause, "before the rehash is written (none tried?)", login)
        .await;
    assert!(
        matches!(outcome, Err(Error::InvalidCredentials)),
        "a login straddling a reset starts no session: {outcome:?}"
    );
    for server in [&scene.engine, &upgraded] {
        assert!(
            matches!(
                server.login(&scene.email, OLD_PASSWORD).await,
                Err(Error::InvalidCredentials)
            ),
            "the old password must not come back through the rehash"
        );
        assert!(
            server.login(&scene.email, NEW_PASSWORD).await.is_ok(),
            "the password the reset set works"
        );
    }
}

/// Generates one `#[tokio::test]` per session race case, each against a fresh storage from
/// the given constructor.
///
/// The argument is an expression evaluated once per case, yielding a future whose output
/// implements [`StorageUnderTest`](crate::testing::StorageUnderTest) (`None` skips the case),
/// exactly as for [`storage_contract_tests!`](crate::storage_contract_tests); a test file
/// can put both lines side by side. The calling crate needs `tokio` (features `macros`,
/// `rt-multi-thread`) as a dev-dependency.
///
/// ```ignore
/// use referral_core::MemoryStorage;
/// referral_core::session_race_tests!(async { MemoryStorage::new() });
/// ```
#[macro_export]
macro_rules! session_race_tests {
    (@cases ($make:expr) [$($case:ident),* $(,)?]) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let fixture = $make.await;
                let Some(storage) = $crate::testing::StorageUnderTest::storage(&fixture) else {
                    return;
                };
                $crate::testing::session_races::$case(storage).await;
                drop(fixture);
            }
        )*
    };
    ($make:expr) => {
        $crate::session_race_tests!(@cases ($make) [
            a_login_whose_password_check_straddles_a_reset_starts_no_session,
            a_refresh_that_rotates_just_before_a_reset_yields_tokens_the_reset_retires,
            a_rehash_at_login_never_writes_the_old_password_over_a_reset,
        ]);
    };
}
