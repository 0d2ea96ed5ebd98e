//! Roles and permissions: who may do what.
//!
//! A user holds [`Role`]s (`["user"]` at sign-up; `admin`; any role the app defines). A
//! permission is a string like `admin:users:read`; the [`RolePermissions`] map in the
//! [`Config`](crate::Config) says which roles hold which permissions. The `admin` role holds
//! every `admin:*` permission whatever the map says, so the administration API always has
//! someone allowed to use it.
//!
//! The built-in permissions guard `/api/admin`; an app declares its own with
//! [`permission!`](crate::permission) and requires them on its routes with the adapters'
//! `RequirePermission<P>`:
//!
//! ```
//! use referral_core::permissions::{Permission, Role, RolePermissions};
//!
//! referral_core::permission! {
//!     /// May edit any profile's links.
//!     pub EditLinks = "links:edit"
//! }
//!
//! let map = RolePermissions::new().grant("moderator", [EditLinks::NAME])?;
//! let moderator = [Role::parse("moderator")?];
//! assert!(map.allows(&moderator, EditLinks::NAME));
//! assert!(!map.allows(&[Role::user()], EditLinks::NAME));
//! assert!(map.allows(&[Role::admin()], "admin:audit"));
//! # Ok::<(), referral_core::Error>(())
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// Longest role name, in bytes.
pub const MAX_ROLE_LEN: usize = 32;

/// The name of the role every new user holds.
pub const USER_ROLE: &str = "user";

/// The name of the role that holds every `admin:*` permission.
pub const ADMIN_ROLE: &str = "admin";

/// A role name: 1 to 32 characters of `a-z 0-9 _ -`, starting with a letter (`user`,
/// `admin`, `moderator`). Parsed once; a `Role` is always valid.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Role(String);

impl Role {
    /// Parses a role name (surrounding spaces ignored, letters lower-cased).
    ///
    /// Errors: [`Error::Validation`] on the field `roles` with code `invalid_role`.
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let name = raw.trim().to_ascii_lowercase();
        let valid = !name.is_empty()
            && name.len() <= MAX_ROLE_LEN
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if valid {
            Ok(Role(name))
        } else {
            Err(Error::invalid(
                "roles",
                "invalid_role",
                "A role is 1 to 32 characters of a-z, 0-9, _ and -, starting with a letter",
            ))
        }
    }

    /// `user`: every new account's role.
    pub fn user() -> Self {
        Role(USER_ROLE.to_owned())
    }

    /// `admin`: holds every `admin:*` permission.
    pub fn admin() -> Self {
        Role(ADMIN_ROLE.to_owned())
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is the `admin` role.
    pub fn is_admin(&self) -> bool {
        self.0 == ADMIN_ROLE
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Role {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Role::parse(&raw).map_err(|_| serde::de::Error::custom(format!("invalid role {raw:?}")))
    }
}

/// A set of roles as a user holds them: each at most once, in the order first given.
pub fn dedup_roles(roles: impl IntoIterator<Item = Role>) -> Vec<Role> {
    let mut seen = BTreeSet::new();
    roles
        .into_iter()
        .filter(|role| seen.insert(role.clone()))
        .collect()
}

/// Whether `roles` include `admin`.
pub fn has_admin(roles: &[Role]) -> bool {
    roles.iter().any(Role::is_admin)
}

/// A permission a route can require: a type naming it, so `RequirePermission<P>` says in
/// its type what it checks. Declare one with [`permission!`](crate::permission).
pub trait Permission: Send + Sync + 'static {
    /// The permission's name (`admin:users:read`, `links:edit`).
    const NAME: &'static str;
}

/// Declares a [`Permission`] type (a unit struct) with its name:
///
/// ```
/// referral_core::permission! {
///     /// May see every profile's analytics.
///     pub ViewAnalytics = "analytics:view"
/// }
/// use referral_core::permissions::Permission;
/// assert_eq!(ViewAnalytics::NAME, "analytics:view");
/// ```
#[macro_export]
macro_rules! permission {
    ($(#[$meta:meta])* $vis:vis $name:ident = $value:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        $vis struct $name;

        impl $crate::permissions::Permission for $name {
            const NAME: &'static str = $value;
        }
    };
}

permission! {
    /// `admin:users:read`: list, search and read users (`GET /api/admin/users…`).
    pub AdminUsersRead = "admin:users:read"
}

permission! {
    /// `admin:users:write`: change a user's roles, disable or enable them
    /// (`PATCH /api/admin/users/{id}`).
    pub AdminUsersWrite = "admin:users:write"
}

permission! {
    /// `admin:audit`: read the audit log (`GET /api/admin/audit`).
    pub AdminAudit = "admin:audit"
}

permission! {
    /// `admin:rewards:read`: the review queue of rewards (`GET /api/admin/rewards`).
    pub AdminRewardsRead = "admin:rewards:read"
}

permission! {
    /// `admin:rewards:write`: approve and revoke rewards, adjust a user's points, record a
    /// user's conversions (`POST /api/admin/rewards/…`, `POST /api/admin/users/{id}/…`).
    pub AdminRewardsWrite = "admin:rewards:write"
}

permission! {
    /// `admin:events`: list and redeliver dead letters (`/api/admin/dead-letters…`).
    pub AdminEvents = "admin:events"
}

/// Every permission the library's own endpoints require.
pub const ADMIN_PERMISSIONS: [&str; 6] = [
    AdminUsersRead::NAME,
    AdminUsersWrite::NAME,
    AdminAudit::NAME,
    AdminRewardsRead::NAME,
    AdminRewardsWrite::NAME,
    AdminEvents::NAME,
];

/// Which roles hold which permissions: the app's map, set with
/// [`ConfigBuilder::role_permissions`](crate::ConfigBuilder::role_permissions).
///
/// `admin` always holds every `admin:*` permission; a permission ending in `*` in the map
/// (`admin:users:*`, `links:*`) holds every permission it is a prefix of. `user` holds
/// nothing unless the map says so.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RolePermissions {
    map: BTreeMap<Role, BTreeSet<String>>,
}

impl RolePermissions {
    /// A map granting nothing (beyond `admin`'s own).
    pub fn new() -> Self {
        Self::default()
    }

    /// Grants `permissions` to `role` (added to what it holds already).
    ///
    /// Errors: [`Error::Config`] for an invalid role name or an empty permission.
    pub fn grant<I, P>(mut self, role: &str, permissions: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = P>,
        P: Into<String>,
    {
        let role = Role::parse(role)
            .map_err(|_| Error::Config(format!("{role:?} is not a valid role name")))?;
        let held = self.map.entry(role).or_default();
        for permission in permissions {
            let permission = permission.into();
            if permission.trim().is_empty() {
                return Err(Error::Config("a permission must not be empty".into()));
            }
            held.insert(permission);
        }
        Ok(self)
    }

    /// Whether any of `roles` holds `permission`.
    pub fn allows(&self, roles: &[Role], permission: &str) -> bool {
        roles.iter().any(|role| {
            (role.is_admin() && permission.starts_with("admin:"))
                || self
                    .map
                    .get(role)
                    .is_some_and(|held| held.iter().any(|granted| covers(granted, permission)))
        })
    }

    /// Whether `role` is known: `user`, `admin`, or a role of the map. Roles given to users
    /// must be known, so a typo is refused instead of granting nothing.
    pub fn knows(&self, role: &Role) -> bool {
        role.as_str() == USER_ROLE || role.is_admin() || self.map.contains_key(role)
    }
}

/// Whether the granted permission `granted` covers `permission`.
fn covers(granted: &str, permission: &str) -> bool {
    match granted.strip_suffix('*') {
        Some(prefix) => permission.starts_with(prefix),
        None => granted == permission,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(name: &str) -> Role {
        Role::parse(name).unwrap()
    }

    #[test]
    fn role_names_are_short_lowercase_words() {
        assert_eq!(role(" Moderator ").as_str(), "moderator");
        for bad in ["", "1st", "a b", "a\"b", "é", &"a".repeat(33)] {
            assert!(Role::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Role::parse(&"a".repeat(32)).is_ok());
    }

    #[test]
    fn admin_holds_every_admin_permission_and_nothing_else_by_default() {
        let map = RolePermissions::new();
        for permission in ADMIN_PERMISSIONS {
            assert!(map.allows(&[Role::admin()], permission));
            assert!(!map.allows(&[Role::user()], permission));
        }
        assert!(!map.allows(&[Role::admin()], "links:edit"));
    }

    #[test]
    fn the_map_grants_exact_and_wildcard_permissions() {
        let map = RolePermissions::new()
            .grant("support", ["admin:users:read"])
            .unwrap()
            .grant("editor", ["links:*"])
            .unwrap();
        assert!(map.allows(&[role("support")], "admin:users:read"));
        assert!(!map.allows(&[role("support")], "admin:users:write"));
        assert!(map.allows(&[role("editor")], "links:edit"));
        assert!(!map.allows(&[role("editor")], "linksx"));
        assert!(map.allows(&[Role::user(), role("editor")], "links:edit"));
        assert!(map.knows(&role("editor")) && map.knows(&Role::user()));
        assert!(!map.knows(&role("admn")));
        assert!(RolePermissions::new().grant("Bad Role", ["x"]).is_err());
    }

    #[test]
    fn roles_are_kept_once_in_the_order_given() {
        let roles = dedup_roles([Role::user(), Role::admin(), Role::user()]);
        assert_eq!(roles, vec![Role::user(), Role::admin()]);
        assert!(has_admin(&roles));
    }
}
