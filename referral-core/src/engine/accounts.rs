//! Accounts: registration (with an optional referral code) and login.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::{Engine, EventType};
use crate::email::Email;
use crate::error::{Error, FieldError};
use crate::fraud;
use crate::password::Password;
use crate::rate_limit::RateScope;
use crate::referral_code::ReferralCode;
use crate::rewards::RewardFlag;
use crate::storage::{NewReferral, NewUser, OutboxMessage, StorageError};
use crate::tokens::Tokens;
use crate::user::{User, UserRecord};

/// Draws of a fresh referral code before giving up (40-bit codes: a collision is rare, five
/// in a row means something else is wrong).
const CODE_ATTEMPTS: usize = 5;

/// A sign-up, as [`Engine::register`] takes it: the fields as the person typed them (the
/// engine validates and normalises them), and where the request came from.
///
/// ```
/// use referral_core::NewAccount;
/// let account = NewAccount::new("jane@example.com", "correct horse battery")
///     .referral_code("AB12CD34");
/// # let _ = account;
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NewAccount {
    /// Email as typed.
    pub email: String,
    /// Password as typed.
    pub password: String,
    /// Someone's referral code as typed (case and surrounding spaces ignored; blank means
    /// none).
    pub referral_code: Option<String>,
    /// The client's address, for the per-address sign-up limit (`None`: not counted, as for
    /// a CLI).
    pub client_address: Option<IpAddr>,
    /// The app's data about the user (`{}` unless given): at most
    /// [`MAX_METADATA_BYTES`](crate::MAX_METADATA_BYTES) serialised, and accepted by the
    /// engine's [`MetadataValidator`](crate::MetadataValidator) if it has one.
    pub metadata: Map<String, Value>,
}

impl NewAccount {
    /// A sign-up with `email` and `password`, no referral code, from no address.
    pub fn new(email: impl Into<String>, password: impl Into<String>) -> Self {
        NewAccount {
            email: email.into(),
            password: password.into(),
            referral_code: None,
            client_address: None,
            metadata: Map::new(),
        }
    }

    /// With the app's data about the user.
    pub fn metadata(mut self, metadata: Map<String, Value>) -> Self {
        self.metadata = metadata;
        self
    }

    /// With someone's referral code.
    pub fn referral_code(mut self, code: impl Into<String>) -> Self {
        self.referral_code = Some(code.into());
        self
    }

    /// From this client address.
    pub fn client_address(mut self, address: Option<IpAddr>) -> Self {
        self.client_address = address;
        self
    }
}

/// What a registration answers: the new user and their first tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
pub struct Registered {
    /// The new user.
    pub user: User,
    /// Their first tokens.
    pub tokens: Tokens,
}

impl Engine {
    /// Registers a user, with the referral and its rewards when a code is given, and starts
    /// their first session.
    ///
    /// Unless configured otherwise, a verification mail is queued with the account.
    ///
    /// Errors: [`Error::Validation`] (`email`, `password`, `metadata`, `metadata.<key>`
    /// from the app's validator), [`Error::RateLimited`] (too many
    /// sign-ups from the client's address), [`Error::EmailTaken`],
    /// [`Error::UnknownReferralCode`].
    pub async fn register(&self, account: NewAccount) -> Result<Registered, Error> {
        let mut errors = Vec::new();
        let email = Email::parse(&account.email)
            .map_err(|problem| {
                errors.push(FieldError::new("email", problem.code(), problem.message()))
            })
            .ok();
        let password = Password::new_for(&account.password, email.as_ref())
            .map_err(|problem| {
                errors.push(FieldError::new(
                    "password",
                    problem.code(),
                    problem.message(),
                ))
            })
            .ok();
        if let Err(problems) = self.check_metadata(&account.metadata) {
            errors.extend(problems);
        }
        let (Some(email), Some(password), true) = (email, password, errors.is_empty()) else {
            return Err(Error::Validation(errors));
        };
        if let Some(address) = account.client_address {
            let limit = self.inner.config.registration_limit;
            self.count_attempt(RateScope::RegisterFromAddress, &address.to_string(), limit)
                .await?;
        }
        let storage = &self.inner.storage;
        let referrer = match account
            .referral_code
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
        {
            None => None,
            Some(raw) => {
                let code = ReferralCode::parse(raw).map_err(|_| Error::UnknownReferralCode)?;
                match storage.user_by_referral_code(&code).await? {
                    Some(referrer) => Some(referrer),
                    // An erased user's code stays theirs: it signs people up, as nobody's.
                    None if storage.referral_code_retired(&code).await? => None,
                    None => return Err(Error::UnknownReferralCode),
                }
            }
        };
        if storage.user_by_email(&email).await?.is_some() {
            return Err(Error::EmailTaken);
        }
        let password_hash = self.inner.hasher.hash(&password).await?;
        let id = Uuid::now_v7();
        let joined_at = self.now();
        let flags = match &referrer {
            Some(referrer) => self.fraud_flags(&email, referrer).await?,
            None => Vec::new(),
        };
        let referral = referrer.as_ref().map(|referrer| NewReferral {
            referrer: referrer.id,
            second_tier_referrer: referrer.referred_by,
            rewards: self
                .inner
                .config
                .rewards
                .entries(referrer.id, id, referrer.referred_by, joined_at)
                .into_iter()
                .map(|entry| entry.flagged(&flags))
                .collect(),
        });
        for _ in 0..CODE_ATTEMPTS {
            let user = UserRecord {
                id,
                email: email.clone(),
                password_hash: password_hash.clone(),
                referral_code: ReferralCode::generate(),
                referred_by: referrer.as_ref().map(|r| r.id),
                token_version: 0,
                created_at: joined_at,
                email_verified: false,
                metadata: account.metadata.clone(),
                roles: self.roles_at_sign_up(&email),
                disabled_at: None,
            };
            let (token, refresh_token) = self.new_refresh_token(&user, Uuid::now_v7());
            let mut outbox = self.registration_events(&user, referral.as_ref());
            if self.inner.config.verification_mail_on_sign_up {
                outbox.push(self.verification_mail(user.id));
            }
            let new = NewUser {
                outbox,
                user: user.clone(),
                referral: referral.clone(),
                refresh_token,
            };
            match storage.create_user(new).await {
                Ok(()) => {
                    self.wake_outbox();
                    tracing::info!(user = %user.id, referred = user.referred_by.is_some(), "user registered");
                    let tokens = self.tokens_for(&user, &token)?;
                    return Ok(Registered {
                        user: self.user_view(&user),
                        tokens,
                    });
                }
                Err(StorageError::ReferralCodeTaken) => continue,
                Err(StorageError::EmailTaken) => return Err(Error::EmailTaken),
                Err(other) => return Err(other.into()),
            }
        }
        Err(Error::Internal(format!(
            "could not draw an unused referral code in {CODE_ATTEMPTS} attempts"
        )))
    }

    /// The fraud signals of `email` signing up with `referrer`'s code: the referrer's own
    /// mailbox, a disposable address, more sign-ups with the referrer's code this window
    /// than the velocity limit (this sign-up is counted).
    async fn fraud_flags(
        &self,
        email: &Email,
        referrer: &UserRecord,
    ) -> Result<Vec<RewardFlag>, Error> {
        let mut flags = Vec::new();
        if fraud::same_mailbox(email, &referrer.email) {
            flags.push(RewardFlag::SelfReferral);
        }
        if fraud::is_disposable(email) {
            flags.push(RewardFlag::DisposableEmail);
        }
        let limit = self.inner.config.referral_velocity_limit;
        match self
            .count_attempt(RateScope::ReferralVelocity, &referrer.id.to_string(), limit)
            .await
        {
            Ok(_) => {}
            Err(Error::RateLimited { .. }) => flags.push(RewardFlag::Velocity),
            Err(other) => return Err(other),
        }
        if !flags.is_empty() {
            tracing::warn!(referrer = %referrer.id, flags = %RewardFlag::join(&flags), "sign-up flagged");
        }
        Ok(flags)
    }

    /// The events a registration writes with it: the new user, the referral, each reward.
    fn registration_events(
        &self,
        user: &UserRecord,
        referral: Option<&NewReferral>,
    ) -> Vec<OutboxMessage> {
        let referrer = referral.map(|referral| referral.referrer);
        let mut events = vec![self.event(
            EventType::UserRegistered,
            Some(user.id),
            json!({ "user_id": user.id, "referrer_id": referrer }),
        )];
        if let Some(referral) = referral {
            events.push(self.event(
                EventType::ReferralCreated,
                Some(referral.referrer),
                json!({ "user_id": user.id, "referrer_id": referral.referrer }),
            ));
            events.extend(
                referral
                    .rewards
                    .iter()
                    .map(|entry| self.reward_created_event(entry)),
            );
        }
        events
    }

    /// Checks an email and password and starts a session.
    ///
    /// Every attempt is counted per email (known or not) before the password is checked, and
    /// the limit is decided on that count, so concurrent attempts cannot get past it; a
    /// successful login takes its attempt back. An unknown email and a wrong password fail
    /// alike ([`Error::InvalidCredentials`]) and take the same time (a dummy hash is
    /// verified). Past the limit: [`Error::RateLimited`] until the window passes. A correct
    /// password for a disabled account: [`Error::AccountDisabled`]. With
    /// `login_requires_verified_email`, a correct login of an unverified user is
    /// [`Error::EmailNotVerified`].
    pub async fn login(&self, email: &str, password: &str) -> Result<Tokens, Error> {
        let password = Password::normalise(password);
        let email = Email::parse(email).map_err(|_| email.trim().to_lowercase());
        let identifier = match &email {
            Ok(email) => email.as_str(),
            Err(raw) => raw.as_str(),
        };
        let attempt = self
            .count_attempt(RateScope::Login, identifier, self.inner.config.login_limit)
            .await?;
        let user = match &email {
            Ok(email) => self.inner.storage.user_by_email(email).await?,
            Err(_) => None,
        };
        let verified = match &user {
            Some(user) => {
                self.inner
                    .hasher
                    .verify(&password, &user.password_hash)
                    .await?
            }
            None => {
                self.inner.hasher.verify_dummy(&password).await?;
                false
            }
        };
        let Some(user) = user.filter(|_| verified) else {
            return Err(Error::InvalidCredentials);
        };
        self.refund_attempt(attempt).await?;
        // After the password check: the refusals tell nothing to someone without it.
        if user.disabled_at.is_some() {
            return Err(Error::AccountDisabled);
        }
        if self.inner.config.login_requires_verified_email && !user.email_verified {
            return Err(Error::EmailNotVerified);
        }
        if self.inner.hasher.needs_rehash(&user.password_hash) {
            let rehashed = self.inner.hasher.hash(&password).await?;
            // Only over the hash just verified: a reset that landed meanwhile wins.
            if self
                .inner
                .storage
                .replace_password_hash(user.id, &user.password_hash, &rehashed)
                .await?
            {
                tracing::info!(user = %user.id, "password rehashed with current parameters");
            }
        }
        // A reset or password change that landed while the password was checked retired the
        // version this session would be issued at: no session then.
        self.start_session(&user)
            .await?
            .ok_or(Error::InvalidCredentials)
    }
}
