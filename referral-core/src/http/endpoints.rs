//! The endpoint table: every endpoint of the contract as data — method, path, who may call
//! it, whether it reads a body, and what it documents — from which the adapters build their
//! native routes, the engine routes and answers, and the OpenAPI document is written.
//!
//! Paths are relative to a [`Mount`]'s prefix (`/api` by default) and use `{name}` for a
//! path parameter.

use std::borrow::Cow;
use std::fmt;

use crate::error::Error;
use crate::permissions::{
    AdminAudit, AdminEvents, AdminRewardsRead, AdminRewardsWrite, AdminUsersRead, AdminUsersWrite,
    Permission,
};

/// The prefix the contract is mounted under unless the app chooses another.
pub const API_PREFIX: &str = "/api";

/// An HTTP method the contract uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// `GET` (and `HEAD`, answered alike without a body).
    Get,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `PATCH`
    Patch,
    /// `DELETE`
    Delete,
}

impl Method {
    /// The method's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }

    /// Whether a request with method `name` (any case) is served by this method: `HEAD` is
    /// served like `GET`.
    pub fn serves(self, name: &str) -> bool {
        name.eq_ignore_ascii_case(self.as_str())
            || (self == Method::Get && name.eq_ignore_ascii_case("HEAD"))
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who may call an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone.
    Public,
    /// A signed-in user (`Authorization: Bearer <access token>`).
    Bearer,
    /// A signed-in user holding this permission (see [`permissions`](crate::permissions));
    /// `403 forbidden` for one who does not.
    Permission(&'static str),
}

/// Where an endpoint's path lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Under the mount's prefix (`/api` by default).
    Api,
    /// At the app root, under a base path the app can move (see [`Mount::root_base`]):
    /// share links live at `/r/{code}`, whatever the API's prefix.
    Root {
        /// The base unless the app moves it (`/r`).
        base: &'static str,
    },
}

/// An endpoint of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Endpoint {
    /// `POST /register`
    Register,
    /// `POST /login`
    Login,
    /// `POST /token/refresh`
    Refresh,
    /// `POST /logout`
    Logout,
    /// `GET /me`
    Me,
    /// `POST /reset-password`
    ResetRequest,
    /// `POST /reset-password/confirm`
    ResetConfirm,
    /// `GET /referrals`
    Referrals,
    /// `GET /referral-stats`
    ReferralStats,
    /// `GET /health`
    Health,
    /// `GET /openapi.json`
    OpenApi,
    /// `PUT /referral-code`
    ReferralCode,
    /// `POST /verify-email`
    VerifyEmail,
    /// `POST /verify-email/resend`
    VerifyEmailResend,
    /// `GET /rewards`
    Rewards,
    /// `GET /admin/users`
    AdminUsers,
    /// `GET /admin/users/{id}`
    AdminUser,
    /// `PATCH /admin/users/{id}`
    AdminUpdateUser,
    /// `GET /admin/audit`
    AdminAudit,
    /// `GET /r/{code}` at the app root
    ShareLink,
    /// `GET /admin/rewards`
    AdminRewards,
    /// `POST /admin/rewards/{id}/approve`
    AdminApproveReward,
    /// `POST /admin/rewards/{id}/revoke`
    AdminRevokeReward,
    /// `GET /admin/dead-letters`
    AdminDeadLetters,
    /// `POST /admin/dead-letters/{id}/redeliver`
    AdminRedeliver,
    /// `POST /admin/users/{id}/adjustments`
    AdminAdjustPoints,
    /// `POST /admin/users/{id}/conversions`
    AdminRecordConversion,
    /// `POST /change-password`
    ChangePassword,
    /// `DELETE /me`
    DeleteMe,
    /// `PATCH /me`
    UpdateMe,
    /// `DELETE /admin/users/{id}`
    AdminDeleteUser,
}

/// One row of the endpoint table.
#[derive(Debug, Clone, Copy)]
pub struct EndpointSpec {
    /// The endpoint.
    pub endpoint: Endpoint,
    /// Stable name (`register`, `referral_stats`): route names, OpenAPI operation ids.
    pub name: &'static str,
    /// Method.
    pub method: Method,
    /// Path under the mount prefix (or, at the root, under the scope's base), `{name}`
    /// marking a parameter.
    pub path: &'static str,
    /// Under the prefix, or at the app root.
    pub scope: Scope,
    /// Who may call it.
    pub access: Access,
    /// Whether it reads a JSON request body.
    pub body: bool,
    /// One line for people (OpenAPI `summary`).
    pub summary: &'static str,
    /// OpenAPI: the request body schema.
    pub request_schema: Option<&'static str>,
    /// OpenAPI: the success status and its body schema.
    pub success: (u16, Option<&'static str>),
    /// OpenAPI: problem statuses and the codes each can carry.
    pub problems: &'static [(u16, &'static str)],
    /// OpenAPI: query parameters and their descriptions.
    pub query: &'static [(&'static str, &'static str)],
}

const AUTHENTICATED: &[(u16, &str)] = &[(401, "unauthorized"), (503, "unavailable")];

const PAGE_QUERY: &[(&str, &str)] = &[
    ("limit", "Page size, 1 to 100 (default 50)"),
    ("cursor", "next_cursor of the previous page"),
];

/// The table, in documentation order.
const TABLE: &[EndpointSpec] = &[
    EndpointSpec {
        endpoint: Endpoint::Register,
        name: "register",
        method: Method::Post,
        path: "/register",
        scope: Scope::Api,
        access: Access::Public,
        body: true,
        summary: "Create an account, optionally with someone's referral code",
        request_schema: Some("RegisterRequest"),
        success: (201, Some("Registered")),
        problems: &[
            (400, "invalid_json"),
            (409, "email_taken"),
            (413, "payload_too_large"),
            (422, "validation_failed, unknown_referral_code"),
            (429, "rate_limited"),
            (503, "unavailable"),
        ],
        query: &[],
    },
    EndpointSpec {
        endpoint: Endpoint::Login,
        name: "login",
        method: Method::Post,
        path: "/login",
        scope: Scope::Api,
        access: Access::Public,
        body: true,
        summary: "Exchange email and password for tokens",
        request_schema: Some("LoginRequest"),
        success: (200, Some("Tokens")),
        problems: &[
            (400, "invalid_json"),
            (401, "invalid_credentials"),
            (429, "rate_limited"),
            (503, "unavailable"),
        ],
        query: &[],
    },
    EndpointSpec {
        endpoint: Endpoint::Refresh,
        name: "refresh",
        method: Method::Post,
        path: "/token/refresh",
        scope: Scope::Api,
        access: Access::Public,
        body: true,
        summary: "Rotate a refresh token for a new token pair",
        request_schema: Some("RefreshRequest"),
        success: (200, Some("Tokens")),
        problems: &[
            (400, "invalid_json"),
            (401, "invalid_refresh_token"),
            (503, "unavailable"),
        ],
        query: &[],
    },
    EndpointSpec {
        endpoint: Endpoint::Logout,
        name: "logout",
        method: Method::Post,
        path: "/logout",
        scope: Scope::Api,
        access: Access::Public,
        body: true,
        summary: "Revoke a refresh token",
        request_schema: Some("RefreshRequest"),
        success: (204, None),
        problems: &[(400, "invalid_json"), (503, "unavailable")],
        query: &[],
    },
    EndpointSpec {
        endpoint: Endpoint::Me,
        name: "me",
        method: Method::Get,
        path: "/me",
        scope: Scope::Api,
        access: Access::Bearer,
        body: false,
        summary: "The current user",
        request_schema: None,
        success: (200, Some("User")),
        problems: AUTHENTICATED,
        query: &[],
    },
    EndpointSpec {
        endpoint: Endpoint::UpdateMe,
        name: "update_me",
        method: Method::Patch,
        path: "/me",
        scope: Scope::Api,
        access: Access::Bearer,
        body: true,
        summary: "Replace your metadata (an object of at most 4 KiB the app defines)",
        request_schema: Some("UpdateMeRequest"),
        success: (200, Some("User")),
        problems: &[
            (400, "invalid_json"),
            (401, "unauthorized"),
            (413, "payload_too_large"),
            (422, "validation_failed"),
            (503, "unavailable"),
        ],
        query: &[],
    },
    EndpointSpec {
        endpoint: Endpoint::ChangePassword,
        name: "change_password",
        method: Method::Post,
        path: "/change-password",
        scope: Scope::Api,
        access: Access::Bearer,
        body: true,
        summary: "Change your password: every other session ends, this one gets new tokens",
        request_schema: Some("ChangePasswordRequest"),
        success: (200, Some("PasswordChanged")),
        problems: &[
            (400, "invalid_json"),
            (401, "unauthorized, invalid_credentials"),
            (413, "payload_too_large"),
            (422, "validation_failed"),
            (429, "rate_limited"),
            (503, "unavailable"),
        ],
        query: &[],
    },
    EndpointSpec {
        endpoint: Endpoint::DeleteMe,
        name: "delete_me",
        method: Method::Delete,
        path: "/me",
        scope: Scope::Api,
        access: Access::Bearer,
        body: true,
        summary: "Erase your account (your referral history stays with your referrer, anonymised)",
        request_schema: Some("DeleteAccountRequest"),
        success: (204, None),
        problems: &[
            (400, "invalid_json"),
            (401, "unauthorized, invalid_credentials"),
            (409, "last_admin"),
            (413, "payload_too_large"),
            (429, "rate_limited"),
            (503, "unavailable"),
        ],
        query: &[],
    },
    EndpointSpec {
        endpoint: Endpoint::ResetRequest,
        name: "reset_password",
        method: Method::Post,
        path: "/reset-password",
        scope: Scope::Api,
        access: Access::Public,
        body: true,
        summary: "Send a password reset link if the email is registered",
        request_schema: Some("ResetRequest"),
        success: (202, Some("MessageBody")),
        problems: &[
            (400, "invalid_json"),
            (422, "validation_failed"),
            (429, "rate_limited"),
            (503, "unavailable"),
        ],
        query: &[],
    },
    EndpointSpec {
        endpoint: Endpoint::ResetConfirm,
        name: "reset_password_confirm",
        method: Method::Post,
        path: "/reset-password/confirm",
        scope: Scope::Api,
        access: Access::Public,
        body: true,
        summary: "Set a new password with a reset token",
        request_schema: Some("ResetConfirmRequest"),
        success: (200, Some("MessageBody")),
        problems: &[
            (400, "invalid_json, invalid_reset_token"),
            (422, "validation_failed"),
            (503, "unavailable"),
        ],
        query: &[],
    },
    EndpointSpec {
        endpoint: Endpoint::VerifyEmail,
        name: "verify_email",
        method: Method::Post,
        path: "/verify-email",
        scope: Scope::Api,
        access: Access::Public,
        body: true,
        summary: "Verify your email address with the token from the mailed link",
        request_schema: Some("VerifyEmailRequest"),
        success: (200, Some("User")),
        problems: &[
            (400, "invalid_json, invalid_verification_token"),
            (413, "payload_too_large"),
            (503, "unavailable"),
        ],
        query: &[],
    },
    EndpointSpec {
        endpoint: Endpoint::VerifyEmailResend,
        name: "verify_email_resend",
        method: Method::Post,
        path: "/verify-email/resend",
        scope: Scope::Api,
        access: Access::Bearer,
        body: false,
        summary: "Send another verification link (nothing is sent once verified)",
        request_schema: None,
        success: (202, Some("MessageBody")),
        problems: &[
            (401, "unauthorized"),
            (429, "rate_limited"),
            (503, "unavailable"),
        ],
        query: &[],
    },
    EndpointSpec {
        endpoint: Endpoint::Referrals,
        name: "referrals",
        method: Method::Get,
        path: "/referrals",
        scope: Scope::Api,
        access: Access::Bearer,
        body: false,
        summary: "The users you referred, newest first",
        request_schema: None,
        success: (200, Some("ReferralPage")),
        problems: &[
            (401, "unauthorized"),
            (422, "validation_failed"),
            (503, "unavailable"),
        ],
        query: PAGE_QUERY,
    },
    EndpointSpec {
        endpoint: Endpoint::ReferralStats,
        name: "referral_stats",
        method: Method::Get,
        path: "/referral-stats",
        scope: Scope::Api,
        access: Access::Bearer,
        body: false,
        summary: "Your referral statistics",
        request_schema: None,
        success: (200, Some("ReferralStats")),
        problems: AUTHENTICATED,
        query: &[],
    },
    EndpointSpec {
        endpoint: Endpoint::ReferralCode,
        name: "set_referral_code",
        method: Method::Put,
        path: "/referral-code",
        scope: Scope::Api,
        access: Access::Bearer,
        body: true,
        summary: "Choose your referral code; your earlier codes keep working",
        request_schema: Some("ReferralCodeRequest"),
        success: (200, Some("ReferralStats")),
        problems: &[
            (400, "invalid_json"),
            (401, "unauthorized"),
            (409, "code_taken"),
            (413, "payload_too_large"),
            (422, "validation_failed"),
            (503, "unavailable"),
        ],
        query: &[],
    },
    EndpointSpec {
        endpoint: Endpoint::Rewards,
        name: "rewards",
        method: Method::Get,
        path: "/rewards",
        scope: Scope::Api,
        access: Access::Bearer,
        body: false,
        summary: "Your reward ledger (pending, approved and revoked), newest first",
        request_schema: None,
        success: (200, Some("RewardPage")),
        problems: &[
            (401, "unauthorized"),
            (422, "validation_failed"),
            (503, "unavailable"),
        ],
        query: &[
            ("limit", "Page size, 1 to 100 (default 50)"),
            ("cursor", "next_cursor of the previous page"),
        ],
    },
    EndpointSpec {
        endpoint: Endpoint::ShareLink,
        name: "share_link",
        method: Method::Get,
        path: "/{code}",
        scope: Scope::Root {
            base: crate::config::DEFAULT_SHARE_PATH,
        },
        access: Access::Public,
        body: false,
        summary: "Follow a share link: counts a click (once per visitor per 24 hours) and \
                  redirects to the registration page with the owner's code; an unknown code \
                  redirects to the registration page alone",
        request_schema: None,
        success: (302, None),
        problems: &[],
        query: &[],
    },
    EndpointSpec {
        endpoint: Endpoint::Health,
        name: "health",
        method: Method::Get,
        path: "/health",
        scope: Scope::Api,
        access: Access::Public,
        body: false,
        summary: "Whether the service and its storage answer",
        request_schema: None,
        success: (200, Some("Health")),
        problems: &[(503, "unavailable")],
        query: &[],
    },
    EndpointSpec {
        endpoint: Endpoint::OpenApi,
        name: "openapi",
        method: Method::Get,
        path: "/openapi.json",
        scope: Scope::Api,
        access: Access::Public,
        body: false,
        summary: "This document",
        request_schema: None,
        success: (200, None),
        problems: &[],
        query: &[],
    },
    EndpointSpec {
        endpoint: Endpoint::AdminUsers,
        name: "admin_users",
        method: Method::Get,
        path: "/admin/users",
        scope: Scope::Api,
        access: Access::Permission(AdminUsersRead::NAME),
        body: false,
        summary: "Users, newest first, optionally those whose email contains a text",
        request_schema: None,
        success: (200, Some("AdminUserPage")),
        problems: &[
            (401, "unauthorized"),
            (403, "forbidden"),
            (422, "validation_failed"),
            (503, "unavailable"),
        ],
        query: &[
            (
                "query",
                "Only users whose email contains this text (any case)",
            ),
            PAGE_QUERY[0],
            PAGE_QUERY[1],
        ],
    },
    EndpointSpec {
        endpoint: Endpoint::AdminUser,
        name: "admin_user",
        method: Method::Get,
        path: "/admin/users/{id}",
        scope: Scope::Api,
        access: Access::Permission(AdminUsersRead::NAME),
        body: false,
        summary: "One user with their referrer and statistics",
        request_schema: None,
        success: (200, Some("AdminUserDetail")),
        problems: &[
            (401, "unauthorized"),
            (403, "forbidden"),
            (404, "not_found"),
            (503, "unavailable"),
        ],
        query: &[],
    },
    EndpointSpec {
        endpoint: Endpoint::AdminUpdateUser,
        name: "admin_update_user",
        method: Method::Patch,
        path: "/admin/users/{id}",
        scope: Scope::Api,
        access: Access::Permission(AdminUsersWrite::NAME),
        body: true,
        summary: "Change a user's roles or disable them (ends every session of theirs)",
        request_schema: Some("AccessUpdate"),
        success: (200, Some("AdminUserDetail")),
        problems: &[
            (400, "invalid_json"),
            (401, "unauthorized"),
            (403, "forbidden"),
            (404, "not_found"),
            (409, "last_admin"),
            (422, "validation_failed"),
            (503, "unavailable"),
        ],
        query: &[],
    },
    EndpointSpec {
        endpoint: Endpoint::AdminDeleteUser,
        name: "admin_delete_user",
        method: Method::Delete,
        path: "/admin/users/{id}",
        scope: Scope::Api,
        access: Access::Permission(AdminUsersWrite::NAME),
        body: false,
        summary: "Erase a user's account, as DELETE /me does",
        request_schema: None,
        success: (204, None),
        problems: &[
            (401, "unauthorized"),
            (403, "forbidden"),
            (404, "not_found"),
            (409, "last_admin"),
            (503, "unavailable"),
        ],
        query: &[],
    },
    EndpointSpec {
        endpoint: Endpoint::AdminAudit,
        name: "admin_audit",
        method: Method::Get,
        path: "/admin/audit",
        scope: Scope::Api,
        access: Access::Permission(AdminAudit::NAME),
        body: false,
        summary: "The audit log, newest first",
        request_schema: None,
        success: (200, Some("AuditPage")),
        problems: &[
            (401, "unauthorized"),
            (403, "forbidden"),
            (422, "validation_failed"),
            (503, "unavailable"),
        ],
        query: PAGE_QUERY,
    },
    EndpointSpec {
        endpoint: Endpoint::AdminRewards,
        name: "admin_rewards",
        method: Method::Get,
        path: "/admin/rewards",
        scope: Scope::Api,
        access: Access::Permission(AdminRewardsRead::NAME),
        body: false,
        summary: "The review queue: every user's rewards with one status (pending by \
                  default), newest first",
        request_schema: None,
        success: (200, Some("RewardPage")),
        problems: &[
            (401, "unauthorized"),
            (403, "forbidden"),
            (422, "validation_failed"),
            (503, "unavailable"),
        ],
        query: &[
            ("status", "pending (default), approved or revoked"),
            PAGE_QUERY[0],
            PAGE_QUERY[1],
        ],
    },
    EndpointSpec {
        endpoint: Endpoint::AdminApproveReward,
        name: "admin_approve_reward",
        method: Method::Post,
        path: "/admin/rewards/{id}/approve",
        scope: Scope::Api,
        access: Access::Permission(AdminRewardsWrite::NAME),
        body: false,
        summary: "Approve a pending reward (no body; one sent is ignored)",
        request_schema: None,
        success: (200, Some("Reward")),
        problems: &[
            (401, "unauthorized"),
            (403, "forbidden"),
            (404, "not_found"),
            (409, "invalid_transition"),
            (503, "unavailable"),
        ],
        query: &[],
    },
    EndpointSpec {
        endpoint: Endpoint::AdminRevokeReward,
        name: "admin_revoke_reward",
        method: Method::Post,
        path: "/admin/rewards/{id}/revoke",
        scope: Scope::Api,
        access: Access::Permission(AdminRewardsWrite::NAME),
        body: true,
        summary: "Revoke a pending or approved reward, for a reason",
        request_schema: Some("RevokeRequest"),
        success: (200, Some("Reward")),
        problems: &[
            (400, "invalid_json"),
            (401, "unauthorized"),
            (403, "forbidden"),
            (404, "not_found"),
            (409, "invalid_transition"),
            (413, "payload_too_large"),
            (422, "validation_failed"),
            (503, "unavailable"),
        ],
        query: &[],
    },
    EndpointSpec {
        endpoint: Endpoint::AdminDeadLetters,
        name: "admin_dead_letters",
        method: Method::Get,
        path: "/admin/dead-letters",
        scope: Scope::Api,
        access: Access::Permission(AdminEvents::NAME),
        body: false,
        summary: "Messages the outbox gave up on (mail, event deliveries), newest first, \
                  without their payloads",
        request_schema: None,
        success: (200, Some("DeadLetterPage")),
        problems: &[
            (401, "unauthorized"),
            (403, "forbidden"),
            (422, "validation_failed"),
            (503, "unavailable"),
        ],
        query: PAGE_QUERY,
    },
    EndpointSpec {
        endpoint: Endpoint::AdminRedeliver,
        name: "admin_redeliver_dead_letter",
        method: Method::Post,
        path: "/admin/dead-letters/{id}/redeliver",
        scope: Scope::Api,
        access: Access::Permission(AdminEvents::NAME),
        body: false,
        summary: "Queue a dead letter for delivery again (no body; one sent is ignored)",
        request_schema: None,
        success: (202, Some("MessageBody")),
        problems: &[
            (401, "unauthorized"),
            (403, "forbidden"),
            (404, "not_found"),
            (503, "unavailable"),
        ],
        query: &[],
    },
    EndpointSpec {
        endpoint: Endpoint::AdminAdjustPoints,
        name: "admin_adjust_points",
        method: Method::Post,
        path: "/admin/users/{id}/adjustments",
        scope: Scope::Api,
        access: Access::Permission(AdminRewardsWrite::NAME),
        body: true,
        summary: "Add points to a user's total (or take them), for a reason",
        request_schema: Some("AdjustmentRequest"),
        success: (201, Some("Reward")),
        problems: &[
            (400, "invalid_json"),
            (401, "unauthorized"),
            (403, "forbidden"),
            (404, "not_found"),
            (413, "payload_too_large"),
            (422, "validation_failed"),
            (503, "unavailable"),
        ],
        query: &[],
    },
    EndpointSpec {
        endpoint: Endpoint::AdminRecordConversion,
        name: "admin_record_conversion",
        method: Method::Post,
        path: "/admin/users/{id}/conversions",
        scope: Scope::Api,
        access: Access::Permission(AdminRewardsWrite::NAME),
        body: true,
        summary: "Record that a user converted: 201 when recorded, 200 (recorded: false) when \
                  this (kind, external id) was recorded before",
        request_schema: Some("ConversionRequest"),
        success: (201, Some("ConversionOutcome")),
        problems: &[
            (400, "invalid_json"),
            (401, "unauthorized"),
            (403, "forbidden"),
            (404, "not_found"),
            (413, "payload_too_large"),
            (422, "validation_failed"),
            (503, "unavailable"),
        ],
        query: &[],
    },
];

impl Endpoint {
    /// Every endpoint, in documentation order.
    pub fn all() -> impl Iterator<Item = Endpoint> {
        TABLE.iter().map(|spec| spec.endpoint)
    }

    /// The endpoint's row of the table.
    pub fn spec(self) -> &'static EndpointSpec {
        // Every variant has exactly one row (checked by a test); the fallback is never taken.
        TABLE
            .iter()
            .find(|spec| spec.endpoint == self)
            .unwrap_or(&TABLE[0])
    }

    /// Stable name (`register`, `referral_stats`).
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// Method.
    pub fn method(self) -> Method {
        self.spec().method
    }

    /// Path under the mount prefix or the root scope's base (`/me`, `{name}` for a
    /// parameter).
    pub fn path(self) -> &'static str {
        self.spec().path
    }

    /// Under the prefix, or at the app root.
    pub fn scope(self) -> Scope {
        self.spec().scope
    }

    fn bit(self) -> u64 {
        1 << (self as u8)
    }
}

/// Path parameters an endpoint's path template captured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PathParams(Vec<(&'static str, String)>);

impl PathParams {
    /// The value captured for `{name}`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// Matches `path` against `template` (`/users/{id}`): the captured parameters, or `None`.
pub(crate) fn match_template(template: &'static str, path: &str) -> Option<PathParams> {
    let mut params = Vec::new();
    let mut wanted = template.split('/');
    let mut given = path.split('/');
    loop {
        match (wanted.next(), given.next()) {
            (None, None) => return Some(PathParams(params)),
            (Some(want), Some(got)) => {
                if let Some(name) = want.strip_prefix('{').and_then(|w| w.strip_suffix('}')) {
                    if got.is_empty() {
                        return None;
                    }
                    params.push((name, got.to_owned()));
                } else if want != got {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

/// Where and which endpoints an app mounts: a path prefix (`/api`, `/auth`, `/v1/api`, or
/// the root) and a subset of the table.
///
/// ```
/// use referral_core::{Endpoint, Mount};
/// let mount = Mount::new("/auth")?.without([Endpoint::Register]);
/// assert_eq!(mount.route_path(Endpoint::Login), "/auth/login");
/// assert!(!mount.contains(Endpoint::Register));
/// # Ok::<(), referral_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    prefix: String,
    endpoints: u64,
    /// Root bases moved from their default: (default, chosen).
    root_bases: Vec<(&'static str, String)>,
}

impl Default for Mount {
    /// Every endpoint under `/api`.
    fn default() -> Self {
        Mount {
            prefix: API_PREFIX.to_owned(),
            endpoints: Endpoint::all().fold(0, |set, endpoint| set | endpoint.bit()),
            root_bases: Vec::new(),
        }
    }
}

impl Mount {
    /// Every endpoint under `prefix`: `/` or empty for the root, otherwise an absolute path
    /// of plain segments (`/auth`, `/v1/api`; a trailing `/` is dropped).
    ///
    /// Errors: [`Error::Config`] for a prefix that is not such a path.
    pub fn new(prefix: &str) -> Result<Self, Error> {
        let trimmed = normalise_prefix(prefix);
        let valid = trimmed.is_empty()
            || (trimmed.starts_with('/')
                && trimmed[1..].split('/').all(|segment| {
                    !segment.is_empty()
                        && segment
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c))
                }));
        if !valid {
            return Err(Error::Config(format!(
                "a mount prefix is `/` or an absolute path of plain segments like `/api` or \
                 `/v1/auth`, got {prefix:?}"
            )));
        }
        Ok(Mount {
            prefix: trimmed.to_owned(),
            ..Mount::default()
        })
    }

    /// The same mount under another prefix (see [`new`](Self::new)).
    pub fn with_prefix(&self, prefix: &str) -> Result<Self, Error> {
        Ok(Mount {
            endpoints: self.endpoints,
            root_bases: self.root_bases.clone(),
            ..Mount::new(prefix)?
        })
    }

    /// This mount as served under `prefix`: itself, borrowed, when that is its prefix already
    /// (the common case, free on every request), else [`with_prefix`](Self::with_prefix)'s.
    pub fn at_prefix(&self, prefix: &str) -> Result<Cow<'_, Mount>, Error> {
        if normalise_prefix(prefix) == self.prefix {
            Ok(Cow::Borrowed(self))
        } else {
            self.with_prefix(prefix).map(Cow::Owned)
        }
    }

    /// Serves the root endpoints whose base is `default` (`/r`, share links) under `base`
    /// instead (`/go`): one or more plain segments. Share links are built from
    /// [`Config::share_path`](crate::Config::share_path): give both the same path.
    ///
    /// Errors: [`Error::Config`] for a base that is not such a path.
    pub fn root_base(mut self, default: &'static str, base: &str) -> Result<Self, Error> {
        let base = base.trim_end_matches('/');
        if !crate::config::is_plain_path(base) {
            return Err(Error::Config(format!(
                "a root base is an absolute path of plain segments like `/r`, got {base:?}"
            )));
        }
        self.root_bases.retain(|(moved, _)| *moved != default);
        self.root_bases.push((default, base.to_owned()));
        Ok(self)
    }

    /// Serves share links under `path` instead of `/r` (see [`root_base`](Self::root_base)).
    pub fn share_path(self, path: &str) -> Result<Self, Error> {
        self.root_base(crate::config::DEFAULT_SHARE_PATH, path)
    }

    /// Where the root endpoints of `default` base live.
    fn base_of<'a>(&'a self, default: &'a str) -> &'a str {
        self.root_bases
            .iter()
            .find(|(moved, _)| *moved == default)
            .map_or(default, |(_, base)| base.as_str())
    }

    /// Only these endpoints.
    pub fn only(mut self, endpoints: impl IntoIterator<Item = Endpoint>) -> Self {
        self.endpoints = endpoints
            .into_iter()
            .fold(0, |set, endpoint| set | endpoint.bit());
        self
    }

    /// Every endpoint mounted so far except these.
    pub fn without(mut self, endpoints: impl IntoIterator<Item = Endpoint>) -> Self {
        for endpoint in endpoints {
            self.endpoints &= !endpoint.bit();
        }
        self
    }

    /// The prefix, without a trailing `/` (empty at the root).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Whether `endpoint` is mounted.
    pub fn contains(&self, endpoint: Endpoint) -> bool {
        self.endpoints & endpoint.bit() != 0
    }

    /// The mounted endpoints, in documentation order.
    pub fn endpoints(&self) -> impl Iterator<Item = Endpoint> + '_ {
        Endpoint::all().filter(|endpoint| self.contains(*endpoint))
    }

    /// The full path template of `endpoint` under this mount (`/auth/login`, `/r/{code}`).
    pub fn route_path(&self, endpoint: Endpoint) -> String {
        match endpoint.scope() {
            Scope::Api => format!("{}{}", self.prefix, endpoint.path()),
            Scope::Root { base } => format!("{}{}", self.base_of(base), endpoint.path()),
        }
    }

    /// The path a request names under this mount, or `None` when it lies outside.
    pub(crate) fn relative<'a>(&self, path: &'a str) -> Option<&'a str> {
        let rest = path.strip_prefix(self.prefix.as_str())?;
        (rest.is_empty() || rest.starts_with('/')).then_some(rest)
    }

    /// Routes `method` and `path` (the whole request path) among the mounted endpoints:
    /// the endpoint and its parameters; [`Error::NotFound`] when no mounted endpoint has
    /// the path; [`Error::MethodNotAllowed`] (with every method the path serves) when some
    /// do, but not for this method.
    pub fn resolve(&self, method: &str, path: &str) -> Result<(Endpoint, PathParams), Error> {
        let relative = self.relative(path);
        let mut allowed = Vec::new();
        for endpoint in self.endpoints() {
            let matched = match endpoint.scope() {
                Scope::Api => {
                    relative.and_then(|relative| match_template(endpoint.path(), relative))
                }
                Scope::Root { base } => path
                    .strip_prefix(self.base_of(base))
                    .and_then(|rest| match_template(endpoint.path(), rest)),
            };
            let Some(params) = matched else {
                continue;
            };
            if endpoint.method().serves(method) {
                return Ok((endpoint, params));
            }
            allowed.push(endpoint.method());
        }
        if allowed.is_empty() {
            return Err(Error::NotFound);
        }
        let allow = allowed
            .iter()
            .flat_map(|method| match method {
                Method::Get => vec!["GET", "HEAD"],
                other => vec![other.as_str()],
            })
            .collect::<Vec<_>>()
            .join(", ");
        Err(Error::MethodNotAllowed { allow })
    }
}

/// A prefix as a mount keeps it: without trailing `/` (so the root is empty).
fn normalise_prefix(prefix: &str) -> &str {
    prefix.trim_end_matches('/')
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_mount_at_its_own_prefix_is_itself_and_elsewhere_a_moved_copy() {
        let mount = Mount::default();
        assert!(matches!(mount.at_prefix("/api"), Ok(Cow::Borrowed(_))));
        assert!(matches!(mount.at_prefix("/api/"), Ok(Cow::Borrowed(_))));
        let moved = mount.at_prefix("/auth").unwrap();
        assert!(matches!(moved, Cow::Owned(_)));
        assert_eq!(moved.prefix(), "/auth");
        let root = Mount::new("/").unwrap();
        assert!(matches!(root.at_prefix("/"), Ok(Cow::Borrowed(_))));
        assert!(mount.at_prefix("not a path").is_err());
    }

    use super::*;

    #[test]
    fn every_endpoint_has_exactly_one_row_and_a_unique_route() {
        let all: Vec<Endpoint> = Endpoint::all().collect();
        for endpoint in &all {
            assert_eq!(
                TABLE
                    .iter()
                    .filter(|spec| spec.endpoint == *endpoint)
                    .count(),
                1
            );
            assert_eq!(endpoint.spec().endpoint, *endpoint);
        }
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert!(
                    (a.method(), a.path(), a.scope()) != (b.method(), b.path(), b.scope()),
                    "{a:?} and {b:?} share a route"
                );
                assert_ne!(a.name(), b.name());
            }
        }
        assert!(all.len() < 64, "the mount's endpoint set is a u64");
    }

    #[test]
    fn known_paths_resolve_and_others_do_not() {
        let mount = Mount::default();
        assert_eq!(
            mount.resolve("POST", "/api/register").unwrap().0,
            Endpoint::Register
        );
        assert_eq!(mount.resolve("head", "/api/me").unwrap().0, Endpoint::Me);
        assert!(matches!(
            mount.resolve("GET", "/api/register"),
            Err(Error::MethodNotAllowed { allow }) if allow == "POST"
        ));
        assert!(matches!(
            mount.resolve("POST", "/api/me"),
            Err(Error::MethodNotAllowed { allow }) if allow == "GET, HEAD, PATCH, DELETE"
        ));
        for path in ["/api/nope", "/api/me/", "/api", "/apix/me", "/me"] {
            assert!(
                matches!(mount.resolve("GET", path), Err(Error::NotFound)),
                "{path}"
            );
        }
    }

    #[test]
    fn a_mount_serves_its_own_prefix_and_subset_only() {
        let mount = Mount::new("/v1/auth/")
            .unwrap()
            .without([Endpoint::Register]);
        assert_eq!(mount.prefix(), "/v1/auth");
        assert_eq!(
            mount.resolve("POST", "/v1/auth/login").unwrap().0,
            Endpoint::Login
        );
        assert!(matches!(
            mount.resolve("POST", "/v1/auth/register"),
            Err(Error::NotFound)
        ));
        assert!(matches!(
            mount.resolve("POST", "/api/login"),
            Err(Error::NotFound)
        ));
        let root = Mount::new("/").unwrap().only([Endpoint::Health]);
        assert_eq!(root.route_path(Endpoint::Health), "/health");
        assert_eq!(root.resolve("GET", "/health").unwrap().0, Endpoint::Health);
        assert!(matches!(root.resolve("GET", "/me"), Err(Error::NotFound)));
    }

    #[test]
    fn root_endpoints_live_at_their_base_whatever_the_prefix() {
        let mount = Mount::new("/v1/auth").unwrap();
        assert_eq!(mount.route_path(Endpoint::ShareLink), "/r/{code}");
        let (endpoint, params) = mount.resolve("GET", "/r/Jane_Doe").unwrap();
        assert_eq!(
            (endpoint, params.get("code")),
            (Endpoint::ShareLink, Some("Jane_Doe"))
        );
        assert!(matches!(
            mount.resolve("POST", "/r/Jane_Doe"),
            Err(Error::MethodNotAllowed { allow }) if allow == "GET, HEAD"
        ));
        for path in ["/r", "/r/", "/r/a/b", "/v1/auth/r/abcd", "/api/r/abcd"] {
            assert!(
                matches!(mount.resolve("GET", path), Err(Error::NotFound)),
                "{path}"
            );
        }
        let moved = mount.share_path("/go/").unwrap();
        assert_eq!(moved.route_path(Endpoint::ShareLink), "/go/{code}");
        assert_eq!(
            moved.resolve("GET", "/go/abcd").unwrap().0,
            Endpoint::ShareLink
        );
        assert!(matches!(
            moved.resolve("GET", "/r/abcd"),
            Err(Error::NotFound)
        ));
        assert_eq!(
            moved
                .with_prefix("/api")
                .unwrap()
                .route_path(Endpoint::ShareLink),
            "/go/{code}"
        );
        assert!(Mount::default().share_path("/").is_err());
        let without = Mount::default().without([Endpoint::ShareLink]);
        assert!(matches!(
            without.resolve("GET", "/r/abcd"),
            Err(Error::NotFound)
        ));
    }

    #[test]
    fn bad_prefixes_are_refused() {
        for bad in ["api", "/a b", "/a//b", "/{x}", "/<x>", "/a?b"] {
            assert!(Mount::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn templates_capture_parameters() {
        let params = match_template("/users/{id}/adjustments", "/users/42/adjustments").unwrap();
        assert_eq!(params.get("id"), Some("42"));
        assert!(match_template("/users/{id}", "/users/").is_none());
        assert!(match_template("/users/{id}", "/users/1/2").is_none());
    }
}
