//! Administration: permission checks, changing a user's roles and disabled state (with the
//! last-admin rule and an audit entry in the same transaction), searching users, reading
//! the audit log, and the operator's grants (`ADMIN_EMAILS`, the `admin` CLI).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::referrals::check_limit;
use super::{Engine, EventType, ReferralStats};
use crate::email::Email;
use crate::error::Error;
use crate::permissions::{self, Role};
use crate::rewards::RewardFlag;
use crate::storage::{AccessChange, AccessOutcome, AuditEntry, StorageError, UserSearch};
use crate::user::UserRecord;

/// A change an admin asks for: new roles, a new disabled state, or both (`None`: unchanged).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
pub struct AccessUpdate {
    /// The roles the user holds afterwards (replacing theirs), each a known role.
    #[serde(default)]
    pub roles: Option<Vec<String>>,
    /// Whether the user is disabled afterwards.
    #[serde(default)]
    pub disabled: Option<bool>,
}

/// A user as the administration API lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
pub struct AdminUser {
    /// Id.
    pub id: Uuid,
    /// The full email.
    pub email: String,
    /// Roles.
    pub roles: Vec<String>,
    /// Whether the user is disabled.
    pub disabled: bool,
    /// Whether they verified their email address.
    pub email_verified: bool,
    /// When they were disabled (RFC 3339, UTC), or `null`.
    #[serde(with = "crate::timestamp::option")]
    #[cfg_attr(feature = "http", schema(value_type = Option<String>, format = DateTime))]
    pub disabled_at: Option<OffsetDateTime>,
    /// Their own referral code.
    pub referral_code: String,
    /// Who referred them.
    pub referred_by: Option<Uuid>,
    /// When they signed up (RFC 3339, UTC).
    #[serde(with = "crate::timestamp")]
    #[cfg_attr(feature = "http", schema(value_type = String, format = DateTime))]
    pub created_at: OffsetDateTime,
    /// Users they referred.
    pub total_referrals: u64,
    /// Sum of their reward ledger entries.
    pub total_reward_points: i64,
}

/// One page of `GET /api/admin/users`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
pub struct AdminUserPage {
    /// Newest first.
    pub users: Vec<AdminUser>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// Someone a user was referred by, as an admin sees them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
pub struct AdminReferrer {
    /// Id.
    pub id: Uuid,
    /// The full email.
    pub email: String,
}

/// One user in detail (`GET /api/admin/users/{id}`, `PATCH` answers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
pub struct AdminUserDetail {
    /// The user as the listing shows them.
    #[serde(flatten)]
    pub user: AdminUser,
    /// Their referrer, or `null`.
    pub referrer: Option<AdminReferrer>,
    /// Their referral statistics, as they see them.
    pub stats: ReferralStats,
    /// The fraud flags raised on their newest 100 reward ledger entries (`self_referral`,
    /// `disposable_email`, `velocity`), each once, in that order.
    #[cfg_attr(feature = "http", schema(value_type = Vec<String>))]
    pub flags: Vec<RewardFlag>,
}

/// One entry of the audit log, as `GET /api/admin/audit` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
pub struct AuditLogEntry {
    /// Id.
    pub id: Uuid,
    /// Who made the change; `null` for the operator (CLI, `ADMIN_EMAILS`).
    pub actor_id: Option<Uuid>,
    /// What was done (`user.roles_changed`, `user.disabled`, …).
    pub action: String,
    /// What it was done to.
    pub target_id: Option<Uuid>,
    /// What changed.
    #[cfg_attr(feature = "http", schema(value_type = Object))]
    pub details: serde_json::Value,
    /// When (RFC 3339, UTC).
    #[serde(with = "crate::timestamp")]
    #[cfg_attr(feature = "http", schema(value_type = String, format = DateTime))]
    pub at: OffsetDateTime,
}

/// One page of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
pub struct AuditPage {
    /// Newest first.
    pub entries: Vec<AuditLogEntry>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl From<AuditEntry> for AuditLogEntry {
    fn from(entry: AuditEntry) -> Self {
        AuditLogEntry {
            id: entry.id,
            actor_id: entry.actor_id,
            action: entry.action,
            target_id: entry.target_id,
            details: entry.details,
            at: entry.at,
        }
    }
}

impl Engine {
    /// Whether `user` holds `permission` through one of their roles (see
    /// [`RolePermissions`](crate::RolePermissions)). A disabled user holds nothing.
    pub fn permits(&self, user: &UserRecord, permission: &str) -> bool {
        user.disabled_at.is_none()
            && self
                .inner
                .config
                .role_permissions
                .allows(&user.roles, permission)
    }

    /// [`Error::Forbidden`] unless `user` holds `permission`.
    pub fn require_permission(&self, user: &UserRecord, permission: &str) -> Result<(), Error> {
        if self.permits(user, permission) {
            Ok(())
        } else {
            Err(Error::Forbidden)
        }
    }

    /// The roles a new account starts with: `user`, and `admin` for a configured admin
    /// email.
    pub(crate) fn roles_at_sign_up(&self, email: &Email) -> Vec<Role> {
        if self.inner.config.admin_emails.contains(email) {
            vec![Role::user(), Role::admin()]
        } else {
            vec![Role::user()]
        }
    }

    /// Changes a user's roles or disabled state, on behalf of `actor` (`None`: the
    /// operator). Atomically: the change, the end of every session of the user (their
    /// earlier access tokens are refused at once, their refresh tokens revoked), and an
    /// audit entry. A change to what the user already has changes nothing and records
    /// nothing. Answers the user as stored afterwards.
    ///
    /// Errors: [`Error::Validation`] (`roles`: `invalid_role`, `unknown_role`),
    /// [`Error::UserNotFound`], [`Error::LastAdmin`] when no enabled admin would remain.
    pub async fn change_access(
        &self,
        actor: Option<&UserRecord>,
        user: Uuid,
        update: AccessUpdate,
    ) -> Result<UserRecord, Error> {
        let roles = update
            .roles
            .map(|names| self.known_roles(&names))
            .transpose()?;
        self.apply_access(actor, user, roles, update.disabled).await
    }

    /// Writes a change of access (roles already checked) and maps its outcome.
    async fn apply_access(
        &self,
        actor: Option<&UserRecord>,
        user: Uuid,
        roles: Option<Vec<Role>>,
        disabled: Option<bool>,
    ) -> Result<UserRecord, Error> {
        let roles_event = roles.as_ref().map(|roles| {
            self.event(
                EventType::UserUpdated,
                Some(user),
                json!({ "user_id": user, "roles": permissions::dedup_roles(roles.clone()) }),
            )
        });
        let disabled_event = (disabled == Some(true)).then(|| {
            self.event(
                EventType::UserDisabled,
                Some(user),
                json!({ "user_id": user }),
            )
        });
        let change = AccessChange {
            user,
            roles,
            disabled,
            now: self.now(),
            actor_id: actor.map(|actor| actor.id),
            audit_id: Uuid::now_v7(),
            roles_event,
            disabled_event,
        };
        match self.inner.storage.change_user_access(change).await {
            Ok(AccessOutcome::Changed(user, entry)) => {
                self.wake_outbox();
                tracing::info!(
                    user = %user.id,
                    actor = ?entry.actor_id,
                    action = %entry.action,
                    "access changed"
                );
                Ok(user)
            }
            Ok(AccessOutcome::Unchanged(user)) => Ok(user),
            Ok(AccessOutcome::UnknownUser) => Err(Error::UserNotFound),
            Err(StorageError::LastAdmin) => Err(Error::LastAdmin),
            Err(other) => Err(other.into()),
        }
    }

    /// `names` as roles, each valid and known (`user`, `admin`, or a role of the configured
    /// map), each once.
    fn known_roles(&self, names: &[String]) -> Result<Vec<Role>, Error> {
        let roles = names
            .iter()
            .map(|name| Role::parse(name))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(unknown) = roles
            .iter()
            .find(|role| !self.inner.config.role_permissions.knows(role))
        {
            return Err(Error::Validation(vec![crate::error::FieldError {
                field: "roles".to_owned(),
                code: "unknown_role".to_owned(),
                message: format!(
                    "{unknown} is not a role of this service (user, admin, or one configured)"
                ),
            }]));
        }
        Ok(permissions::dedup_roles(roles))
    }

    /// Gives the user with `email` the role `role` as the operator (the `admin` CLI), as
    /// [`change_access`](Self::change_access) does with their roles plus this one. The
    /// operator is trusted with any well-formed role name: the CLI does not know the app's
    /// role map.
    ///
    /// Errors: as `change_access`; [`Error::UserNotFound`] when nobody has the email.
    pub async fn grant_role(&self, email: &str, role: &str) -> Result<UserRecord, Error> {
        let user = self.user_by_email_for_operator(email).await?;
        let mut roles = user.roles.clone();
        roles.push(Role::parse(role)?);
        let roles = permissions::dedup_roles(roles);
        self.apply_access(None, user.id, Some(roles), None).await
    }

    /// Takes the role `role` from the user with `email` as the operator (the `admin` CLI).
    ///
    /// Errors: as [`grant_role`](Self::grant_role), and [`Error::LastAdmin`].
    pub async fn revoke_role(&self, email: &str, role: &str) -> Result<UserRecord, Error> {
        let user = self.user_by_email_for_operator(email).await?;
        let role = Role::parse(role)?;
        let roles = user.roles.iter().filter(|held| **held != role).cloned();
        self.apply_access(None, user.id, Some(roles.collect()), None)
            .await
    }

    async fn user_by_email_for_operator(&self, email: &str) -> Result<UserRecord, Error> {
        let email = Email::parse(email)
            .map_err(|problem| Error::invalid("email", problem.code(), problem.message()))?;
        self.inner
            .storage
            .user_by_email(&email)
            .await?
            .ok_or(Error::UserNotFound)
    }

    /// Every user holding `role`, newest first.
    pub async fn users_with_role(&self, role: &str) -> Result<Vec<UserRecord>, Error> {
        let role = Role::parse(role)?;
        let mut users = Vec::new();
        let mut after = None;
        loop {
            let page = self
                .inner
                .storage
                .search_users(UserSearch {
                    email_contains: None,
                    role: Some(role.clone()),
                    after,
                    limit: super::MAX_PAGE_SIZE,
                })
                .await?;
            let full = page.len() == super::MAX_PAGE_SIZE as usize;
            after = page.last().map(|summary| summary.user.id);
            users.extend(page.into_iter().map(|summary| summary.user));
            if !full {
                return Ok(users);
            }
        }
    }

    /// Gives `admin` to every registered user whose email is among the configured admin
    /// emails (`ADMIN_EMAILS`) and does not hold it yet, as the operator; the example
    /// servers run it at start. Answers how many were granted.
    pub async fn grant_configured_admins(&self) -> Result<usize, Error> {
        let mut granted = 0;
        for email in &self.inner.config.admin_emails {
            let Some(user) = self.inner.storage.user_by_email(email).await? else {
                continue;
            };
            if permissions::has_admin(&user.roles) {
                continue;
            }
            self.grant_role(email.as_str(), permissions::ADMIN_ROLE)
                .await?;
            tracing::info!(user = %user.id, "admin role granted from the configured admin emails");
            granted += 1;
        }
        Ok(granted)
    }

    /// One page of users for an admin, newest first: at most `limit` (1..=100) after
    /// `cursor`, only those whose email contains `query` (any case) when one is given.
    pub async fn admin_users(
        &self,
        query: Option<&str>,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<AdminUserPage, Error> {
        check_limit(limit)?;
        let after = cursor.map(decode_id_cursor).transpose()?;
        let email_contains = query
            .map(|text| text.trim().to_lowercase())
            .filter(|text| !text.is_empty());
        let mut rows = self
            .inner
            .storage
            .search_users(UserSearch {
                email_contains,
                role: None,
                after,
                limit: limit + 1,
            })
            .await?;
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next_cursor = more
            .then(|| rows.last().map(|last| encode_id_cursor(last.user.id)))
            .flatten();
        Ok(AdminUserPage {
            users: rows
                .into_iter()
                .map(|row| admin_user(&row.user, row.referrals, row.reward_points))
                .collect(),
            next_cursor,
        })
    }

    /// One user in detail, for an admin: with their referrer and statistics.
    ///
    /// Errors: [`Error::UserNotFound`].
    pub async fn admin_user(&self, id: Uuid) -> Result<AdminUserDetail, Error> {
        let user = self
            .inner
            .storage
            .user_by_id(id)
            .await?
            .ok_or(Error::UserNotFound)?;
        self.admin_user_detail(&user).await
    }

    /// The detail view of `user`.
    pub async fn admin_user_detail(&self, user: &UserRecord) -> Result<AdminUserDetail, Error> {
        let stats = self.referral_stats(user).await?;
        let referrer = match user.referred_by {
            Some(id) => self
                .inner
                .storage
                .user_by_id(id)
                .await?
                .map(|referrer| AdminReferrer {
                    id: referrer.id,
                    email: referrer.email.to_string(),
                }),
            None => None,
        };
        let mut flags: Vec<RewardFlag> = self
            .inner
            .storage
            .list_rewards(user.id, None, super::MAX_PAGE_SIZE)
            .await?
            .into_iter()
            .flat_map(|entry| entry.flags)
            .collect();
        flags.sort_unstable();
        flags.dedup();
        Ok(AdminUserDetail {
            user: admin_user(user, stats.total_referrals, stats.total_reward_points),
            referrer,
            stats,
            flags,
        })
    }

    /// One page of the audit log, newest first.
    pub async fn audit_log(&self, limit: u32, cursor: Option<&str>) -> Result<AuditPage, Error> {
        check_limit(limit)?;
        let after = cursor.map(decode_id_cursor).transpose()?;
        let mut entries = self.inner.storage.audit_log(after, limit + 1).await?;
        let more = entries.len() > limit as usize;
        entries.truncate(limit as usize);
        let next_cursor = more
            .then(|| entries.last().map(|last| encode_id_cursor(last.id)))
            .flatten();
        Ok(AuditPage {
            entries: entries.into_iter().map(AuditLogEntry::from).collect(),
            next_cursor,
        })
    }
}

fn admin_user(user: &UserRecord, referrals: u64, reward_points: i64) -> AdminUser {
    AdminUser {
        id: user.id,
        email: user.email.to_string(),
        roles: user.roles.iter().map(ToString::to_string).collect(),
        disabled: user.disabled_at.is_some(),
        email_verified: user.email_verified,
        disabled_at: user.disabled_at,
        referral_code: user.referral_code.to_string(),
        referred_by: user.referred_by,
        created_at: user.created_at,
        total_referrals: referrals,
        total_reward_points: reward_points,
    }
}

/// A cursor naming the last row of a page by its id.
pub(crate) fn encode_id_cursor(id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(id.simple().to_string())
}

pub(crate) fn decode_id_cursor(raw: &str) -> Result<Uuid, Error> {
    URL_SAFE_NO_PAD
        .decode(raw.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| Uuid::parse_str(&text).ok())
        .ok_or_else(|| {
            Error::invalid(
                "cursor",
                "invalid_cursor",
                "cursor is not one this API returned",
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_cursor_round_trips_and_garbage_is_a_field_error() {
        let id = Uuid::now_v7();
        assert_eq!(decode_id_cursor(&encode_id_cursor(id)).unwrap(), id);
        for bad in ["", "!!!", "bm90LWEtY3Vyc29y"] {
            assert!(
                matches!(decode_id_cursor(bad), Err(Error::Validation(e)) if e[0].field == "cursor"),
                "{bad}"
            );
        }
    }
}
