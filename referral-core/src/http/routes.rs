//! The route table of the HTTP contract: which path answers which method.

use crate::error::Error;

/// The prefix every route of the contract lives under.
pub const API_PREFIX: &str = "/api";

/// An endpoint of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `POST /api/register`
    Register,
    /// `POST /api/login`
    Login,
    /// `POST /api/token/refresh`
    Refresh,
    /// `POST /api/logout`
    Logout,
    /// `GET /api/me`
    Me,
    /// `POST /api/reset-password`
    ResetRequest,
    /// `POST /api/reset-password/confirm`
    ResetConfirm,
    /// `GET /api/referrals`
    Referrals,
    /// `GET /api/referral-stats`
    ReferralStats,
    /// `GET /api/health`
    Health,
    /// `GET /api/openapi.json`
    OpenApi,
}

impl Route {
    /// Every route, for documentation and tests.
    pub const ALL: [Route; 11] = [
        Route::Register,
        Route::Login,
        Route::Refresh,
        Route::Logout,
        Route::Me,
        Route::ResetRequest,
        Route::ResetConfirm,
        Route::Referrals,
        Route::ReferralStats,
        Route::Health,
        Route::OpenApi,
    ];

    /// The full path.
    pub fn path(self) -> &'static str {
        match self {
            Route::Register => "/api/register",
            Route::Login => "/api/login",
            Route::Refresh => "/api/token/refresh",
            Route::Logout => "/api/logout",
            Route::Me => "/api/me",
            Route::ResetRequest => "/api/reset-password",
            Route::ResetConfirm => "/api/reset-password/confirm",
            Route::Referrals => "/api/referrals",
            Route::ReferralStats => "/api/referral-stats",
            Route::Health => "/api/health",
            Route::OpenApi => "/api/openapi.json",
        }
    }

    /// The one method the route answers (`HEAD` is served like `GET`).
    pub fn method(self) -> &'static str {
        match self {
            Route::Me
            | Route::Referrals
            | Route::ReferralStats
            | Route::Health
            | Route::OpenApi => "GET",
            _ => "POST",
        }
    }

    /// The value of the `Allow` header for the route.
    pub fn allow(self) -> &'static str {
        match self.method() {
            "GET" => "GET, HEAD",
            _ => "POST",
        }
    }

    /// Finds the route for `method` and `path`: [`Error::NotFound`] for an unknown path,
    /// [`Error::MethodNotAllowed`] for a known path with another method.
    pub fn resolve(method: &str, path: &str) -> Result<Route, Error> {
        let route = Route::ALL
            .into_iter()
            .find(|route| route.path() == path)
            .ok_or(Error::NotFound)?;
        let method = method.to_ascii_uppercase();
        let served = route.method();
        if method == served || (method == "HEAD" && served == "GET") {
            Ok(route)
        } else {
            Err(Error::MethodNotAllowed {
                allow: route.allow(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_paths_resolve_and_others_do_not() {
        assert_eq!(
            Route::resolve("POST", "/api/register").unwrap(),
            Route::Register
        );
        assert_eq!(Route::resolve("head", "/api/me").unwrap(), Route::Me);
        assert!(matches!(
            Route::resolve("GET", "/api/register"),
            Err(Error::MethodNotAllowed { allow: "POST" })
        ));
        assert!(matches!(
            Route::resolve("GET", "/api/nope"),
            Err(Error::NotFound)
        ));
        assert!(matches!(
            Route::resolve("GET", "/api/me/"),
            Err(Error::NotFound)
        ));
    }
}
