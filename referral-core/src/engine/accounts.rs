//! Accounts: registration (with an optional referral code) and login.

use uuid::Uuid;

use super::Engine;
use crate::email::Email;
use crate::error::{Error, FieldError};
use crate::http::{LoginRequest, RegisterRequest, Registered, Tokens};
use crate::password::Password;
use crate::rate_limit::login_key;
use crate::referral_code::ReferralCode;
use crate::storage::{NewReferral, NewUser, StorageError};
use crate::user::UserRecord;

/// Draws of a fresh referral code before giving up (40-bit codes: a collision is rare, three
/// in a row means something else is wrong).
const CODE_ATTEMPTS: usize = 5;

impl Engine {
    /// Registers a user, with the referral and its rewards when a code is given, and starts
    /// their first session.
    ///
    /// Errors: [`Error::Validation`] (email, password), [`Error::EmailTaken`],
    /// [`Error::UnknownReferralCode`].
    pub async fn register(&self, request: RegisterRequest) -> Result<Registered, Error> {
        let mut errors = Vec::new();
        let email = Email::parse(&request.email)
            .map_err(|problem| {
                errors.push(FieldError::new("email", problem.code(), problem.message()))
            })
            .ok();
        let password = Password::new_for(&request.password, email.as_ref())
            .map_err(|problem| {
                errors.push(FieldError::new(
                    "password",
                    problem.code(),
                    problem.message(),
                ))
            })
            .ok();
        let (Some(email), Some(password)) = (email, password) else {
            return Err(Error::Validation(errors));
        };
        let storage = &self.inner.storage;
        let referrer = match request
            .referral_code
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
        {
            None => None,
            Some(raw) => {
                let code = ReferralCode::parse(raw).map_err(|_| Error::UnknownReferralCode)?;
                Some(
                    storage
                        .user_by_referral_code(&code)
                        .await?
                        .ok_or(Error::UnknownReferralCode)?,
                )
            }
        };
        if storage.user_by_email(&email).await?.is_some() {
            return Err(Error::EmailTaken);
        }
        let password_hash = self.inner.hasher.hash(&password).await?;
        let id = Uuid::now_v7();
        let referral = referrer.as_ref().map(|referrer| NewReferral {
            referrer: referrer.id,
            second_tier_referrer: referrer.referred_by,
            rewards: self
                .inner
                .config
                .rewards
                .entries(referrer.id, id, referrer.referred_by),
        });
        for _ in 0..CODE_ATTEMPTS {
            let user = UserRecord {
                id,
                email: email.clone(),
                password_hash: password_hash.clone(),
                referral_code: ReferralCode::generate(),
                referred_by: referrer.as_ref().map(|r| r.id),
                token_version: 0,
                created_at: self.now(),
            };
            let (token, refresh_token) = self.new_refresh_token(id, Uuid::now_v7());
            let new = NewUser {
                user: user.clone(),
                referral: referral.clone(),
                refresh_token,
            };
            match storage.create_user(new).await {
                Ok(()) => {
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

    /// Checks an email and password and starts a session.
    ///
    /// An unknown email and a wrong password fail alike ([`Error::InvalidCredentials`]) and
    /// take the same time (a dummy hash is verified). Failures are counted per email, known
    /// or not; past the limit, logins for the email get [`Error::RateLimited`] until the
    /// window passes.
    pub async fn login(&self, request: LoginRequest) -> Result<Tokens, Error> {
        let password = Password::normalise(&request.password);
        let email = Email::parse(&request.email).ok();
        let key = match &email {
            Some(email) => login_key(email),
            None => format!("login:{}", request.email.trim().to_lowercase()),
        };
        let limit = self.inner.config.login_limit;
        let storage = &self.inner.storage;
        let window = storage.rate_limit(&key, self.now(), limit.window).await?;
        if let Some(retry_after_secs) = limit.retry_after(window, self.now()) {
            return Err(Error::RateLimited { retry_after_secs });
        }
        let user = match &email {
            Some(email) => storage.user_by_email(email).await?,
            None => None,
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
            storage
                .hit_rate_limit(&key, self.now(), limit.window)
                .await?;
            return Err(Error::InvalidCredentials);
        };
        if self.inner.hasher.needs_rehash(&user.password_hash) {
            let rehashed = self.inner.hasher.hash(&password).await?;
            storage.update_password_hash(user.id, &rehashed).await?;
            tracing::info!(user = %user.id, "password rehashed with current parameters");
        }
        self.start_session(&user).await
    }
}
