//! Email verification: the mail every sign-up queues, resending it, and confirming the
//! address with the token from the link.
//!
//! As with resets, no raw token is ever stored: the outbox message names only the user, and
//! the dispatcher creates the token (kept as a hash, superseding any earlier one) when it
//! sends the mail. Confirming consumes the token, marks the address verified and approves the
//! referral rewards that wait for it, in one storage transaction.

use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::{Engine, EventType};
use crate::error::Error;
use crate::mailer::Message;
use crate::rate_limit::RateScope;
use crate::rewards::RewardApproval;
use crate::storage::{OutboxMessage, VerificationTokenRecord};
use crate::templates::LinkMail;
use crate::tokens::OpaqueToken;
use crate::user::{User, UserRecord};

/// What `POST /api/verify-email/resend` answers.
pub const VERIFICATION_SENT_MESSAGE: &str =
    "If your email address is not verified yet, a new verification link has been sent.";

/// The outbox topic of a verification mail.
pub(crate) const VERIFICATION_MAIL_TOPIC: &str = "mail.email_verification";

/// The payload of a verification mail: only whom it is for.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct VerificationMail {
    user_id: Uuid,
}

impl Engine {
    /// The outbox message that sends `user` a verification link when delivered.
    pub(crate) fn verification_mail(&self, user: Uuid) -> OutboxMessage {
        OutboxMessage {
            id: Uuid::now_v7(),
            topic: VERIFICATION_MAIL_TOPIC.to_owned(),
            user_id: Some(user),
            // A struct of one UUID always serialises.
            payload: serde_json::to_string(&VerificationMail { user_id: user }).unwrap_or_default(),
            attempts: 0,
            created_at: self.now(),
        }
    }

    /// Queues another verification mail for `user` (`POST /verify-email/resend`); the link
    /// it carries supersedes every earlier one. Nothing is sent when the address is already
    /// verified.
    ///
    /// Errors: [`Error::RateLimited`] past the verification-mail limit (default 3 per user
    /// per hour).
    pub async fn resend_verification(&self, user: &UserRecord) -> Result<(), Error> {
        if user.email_verified {
            return Ok(());
        }
        let limit = self.inner.config.verification_mail_limit;
        self.count_attempt(RateScope::VerificationMail, &user.id.to_string(), limit)
            .await?;
        self.inner
            .storage
            .enqueue_outbox(self.verification_mail(user.id))
            .await?;
        self.wake_outbox();
        Ok(())
    }

    /// The verification mail for a queued message, with a token created now: `None` when
    /// the user is gone or already verified (nothing to send).
    pub(crate) async fn verification_mail_message(
        &self,
        queued: &OutboxMessage,
    ) -> Result<Option<Message>, Error> {
        let request: VerificationMail = serde_json::from_str(&queued.payload)
            .map_err(|e| Error::Internal(format!("unreadable verification mail payload: {e}")))?;
        let Some(user) = self.inner.storage.user_by_id(request.user_id).await? else {
            return Ok(None);
        };
        if user.email_verified {
            return Ok(None);
        }
        let now = self.now();
        let ttl = self.inner.config.verification_ttl;
        let token = OpaqueToken::generate();
        let record = VerificationTokenRecord {
            hash: token.hash(),
            user_id: user.id,
            created_at: now,
            expires_at: now + ttl,
        };
        if !self.inner.storage.create_verification_token(record).await? {
            return Ok(None);
        }
        let link = self.token_link(&self.inner.config.link_paths.verify_path, token.expose());
        let view = self.user_view(&user);
        let content = self
            .inner
            .templates
            .email_verification(&LinkMail::new(&view, &link, ttl));
        tracing::info!(user = %user.id, "verification mail prepared");
        Ok(Some(Message::new(
            user.email,
            &content.subject,
            content.text,
            content.html,
        )))
    }

    /// Verifies the address of the token's owner (`POST /verify-email`): the token is
    /// consumed, `email_verified` becomes true, and the referral rewards the policy holds
    /// until the referee verifies are approved, all at once.
    ///
    /// Errors: [`Error::InvalidVerificationToken`] for an unknown, used, superseded or
    /// expired token.
    pub async fn verify_email(&self, token: &str) -> Result<User, Error> {
        let hash = OpaqueToken::from_client(token).hash();
        let storage = &self.inner.storage;
        let now = self.now();
        let owner = storage
            .verification_token_user(&hash, now)
            .await?
            .ok_or(Error::InvalidVerificationToken)?;
        let approvals = self
            .approvals_of(owner.id, RewardApproval::OnEmailVerified, "email verified")
            .await?;
        let event = self.event(
            EventType::UserEmailVerified,
            Some(owner.id),
            json!({ "user_id": owner.id }),
        );
        let user = storage
            .verify_email(&hash, now, approvals, vec![event])
            .await?
            .ok_or(Error::InvalidVerificationToken)?;
        self.wake_outbox();
        tracing::info!(user = %user.id, "email verified");
        Ok(self.user_view(&user))
    }
}
