//! The `RequirePermission<P>` request guard for your own routes.

use std::fmt;
use std::marker::PhantomData;

use referral_core::permissions::Permission;
use referral_core::{ApiResponse, Engine, UserRecord};
use rocket::request::{self, FromRequest, Request};
use rocket::{Ignite, Rocket, Sentinel};

use crate::auth_user::{engine_missing, refuse};

/// The signed-in user, who holds the permission `P`: a request guard that checks the
/// `Authorization: Bearer` access token and the user's roles with
/// [`Engine::authorize_permission`].
///
/// Without a valid token the route does not run and the answer is `401 unauthorized`; with
/// one whose roles do not hold `P`, `403 forbidden`. As with [`AuthUser`](crate::AuthUser),
/// the engine's answer is kept for the adapter's [`catchers`](crate::catchers), which send
/// it unchanged: register them at your routes' base. Declare the app's permissions with
/// [`referral_core::permission!`].
///
/// ```
/// use referral_core::permissions::{Permission, RolePermissions};
/// use referral_core::{Config, Engine};
/// use referral_rocket::RequirePermission;
/// use rocket::http::Status;
/// use rocket::local::blocking::Client;
///
/// referral_core::permission! {
///     /// May read every profile's analytics.
///     pub ViewAnalytics = "analytics:view"
/// }
///
/// #[rocket::get("/analytics")]
/// fn analytics(allowed: RequirePermission<ViewAnalytics>) -> String {
///     format!("analytics for {}", allowed.0.email)
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let config = Config::builder()
///     .random_secret()
///     .role_permissions(RolePermissions::new().grant("analyst", [ViewAnalytics::NAME])?)
///     .build()?;
/// let engine = Engine::builder(config).build()?;
/// let rocket = rocket::build()
///     .attach(referral_rocket::stage_with(engine))
///     .mount("/", rocket::routes![analytics])
///     .register("/", referral_rocket::catchers());
/// let client = Client::tracked(rocket)?;
///
/// let response = client.get("/analytics").dispatch();
/// assert_eq!(response.status(), Status::Unauthorized);
/// # Ok(())
/// # }
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

#[rocket::async_trait]
impl<'r, P: Permission> FromRequest<'r> for RequirePermission<P> {
    type Error = ApiResponse;

    async fn from_request(request: &'r Request<'_>) -> request::Outcome<Self, ApiResponse> {
        let Some(engine) = request.rocket().state::<Engine>() else {
            return engine_missing("RequirePermission");
        };
        match engine
            .authorize_permission(request.headers().get_one("Authorization"), P::NAME)
            .await
        {
            Ok(user) => request::Outcome::Success(RequirePermission(user, PhantomData)),
            Err(response) => refuse(request, response),
        }
    }
}

impl<P: Permission> Sentinel for RequirePermission<P> {
    fn abort(rocket: &Rocket<Ignite>) -> bool {
        crate::auth_user::aborts_without_engine(rocket, "RequirePermission")
    }
}
