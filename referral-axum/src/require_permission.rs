//! `RequirePermission<P>`: the extractor that puts the engine's permission check on a user's
//! own handlers.

use std::fmt;
use std::marker::PhantomData;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use referral_core::permissions::Permission;
use referral_core::{Engine, UserRecord};

use crate::auth_user::AuthRejection;
use crate::request::header_text;

/// The signed-in user of a request, who holds the permission `P`: extracting it requires a
/// valid access token (else the contract's `401 unauthorized`) and a role holding `P` in
/// the engine's [`RolePermissions`](referral_core::RolePermissions) (else `403 forbidden`).
///
/// Declare the app's own permissions with [`referral_core::permission!`] and map roles to
/// them in the config; the library's own are in [`referral_core::permissions`].
///
/// ```
/// use axum::{body::Body, http::Request, routing::get, Router};
/// use referral_axum::RequirePermission;
/// use referral_core::permissions::{Permission, RolePermissions};
/// use referral_core::{Config, Engine, NewAccount};
/// use tower::ServiceExt;
///
/// referral_core::permission! {
///     /// May read every profile's analytics.
///     pub ViewAnalytics = "analytics:view"
/// }
///
/// async fn analytics(RequirePermission(user, ..): RequirePermission<ViewAnalytics>) -> String {
///     format!("analytics for {}", user.email)
/// }
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let config = Config::builder()
///     .random_secret()
///     .role_permissions(RolePermissions::new().grant("analyst", [ViewAnalytics::NAME])?)
///     .build()?;
/// let engine = Engine::builder(config).build()?;
/// let app: Router = Router::new()
///     .route("/analytics", get(analytics))
///     .with_state(engine.clone());
///
/// // Signed in, but holding only `user`: 403 forbidden.
/// let jane = engine
///     .register(NewAccount::new("jane@example.com", "correct horse battery"))
///     .await?;
/// let request = Request::get("/analytics")
///     .header("authorization", format!("Bearer {}", jane.tokens.access_token))
///     .body(Body::empty())
///     .unwrap();
/// let response = app.clone().oneshot(request).await.unwrap();
/// assert_eq!(response.status(), 403);
///
/// // Not signed in: 401.
/// let anonymous = Request::get("/analytics").body(Body::empty()).unwrap();
/// assert_eq!(app.oneshot(anonymous).await.unwrap().status(), 401);
/// # Ok::<(), referral_core::Error>(())
/// # }).unwrap();
/// ```
pub struct RequirePermission<P: Permission>(pub UserRecord, pub PhantomData<P>);

impl<P: Permission> RequirePermission<P> {
    /// The signed-in user.
    pub fn user(&self) -> &UserRecord {
        &self.0
    }
}

impl<P: Permission> fmt::Debug for RequirePermission<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RequirePermission")
            .field(&P::NAME)
            .field(&self.0)
            .finish()
    }
}

impl<P: Permission> Clone for RequirePermission<P> {
    fn clone(&self) -> Self {
        RequirePermission(self.0.clone(), PhantomData)
    }
}

impl<S, P> FromRequestParts<S> for RequirePermission<P>
where
    Engine: FromRef<S>,
    S: Send + Sync,
    P: Permission,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let engine = Engine::from_ref(state);
        let authorization = header_text(&parts.headers, AUTHORIZATION);
        engine
            .authorize_permission(authorization.as_deref(), P::NAME)
            .await
            .map(|user| RequirePermission(user, PhantomData))
            .map_err(AuthRejection)
    }
}
