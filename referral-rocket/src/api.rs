//! The routes: one native Rocket route per endpoint of the table, named for it, plus
//! catch-alls answering the contract's `404`/`405` for the rest of the mount.

use std::borrow::Cow;

use referral_core::{ApiResponse, Endpoint, Engine, Error, Method as EndpointMethod, Mount, Scope};
use rocket::catcher::Catcher;
use rocket::data::Data;
use rocket::http::Method;
use rocket::request::Request;
use rocket::route::{self, Handler, Route};

use crate::catchers::api_catchers;
use crate::request::{api_request, read_body};
use crate::response::EngineResponse;

/// The rank of the endpoint routes. Rocket tries lower ranks first and its default ranks are
/// all below zero, so a route of yours at the same path (with its default rank) is tried
/// first: mount one to replace an endpoint's handler.
pub const ENDPOINT_RANK: isize = 10;

/// The rank of the catch-alls answering `404`/`405` under the mount: after every route of
/// yours under the same base. A route of yours that also matches everything there and never
/// forwards (a `/<path..>` with its default rank) would hide them: give it a rank above this.
pub const ROUTE_RANK: isize = 20;

/// Every method Rocket parses except `CONNECT`, which carries no path: the catch-alls answer
/// `405` with `Allow` for the ones a path does not serve.
const METHODS: [Method; 8] = [
    Method::Get,
    Method::Head,
    Method::Post,
    Method::Put,
    Method::Delete,
    Method::Patch,
    Method::Options,
    Method::Trace,
];

/// Every endpoint's route, to mount at `/api` (or the prefix of your choice):
/// `rocket.mount("/api", referral_rocket::routes())`. Register
/// [`Api::catchers`] at the same base for problem answers to what Rocket refuses on its own.
pub fn routes() -> Vec<Route> {
    Api::new().routes()
}

/// Which endpoints to serve, and the prefix they are mounted at (for the catchers; the
/// routes take theirs from where they are mounted).
///
/// ```
/// use referral_core::{Config, Endpoint, Engine};
/// use referral_rocket::Api;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let engine = Engine::builder(Config::builder().random_secret().build()?).build()?;
/// // No public sign-up: accounts are created by the app itself.
/// let api = Api::new().prefix("/auth")?.without([Endpoint::Register]);
/// let rocket = rocket::build()
///     .manage(engine)
///     .mount("/auth", api.routes())
///     .register("/auth", api.catchers());
/// # let _ = rocket;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct Api {
    mount: Mount,
}

impl Api {
    /// Every endpoint, mounted at `/api`.
    pub fn new() -> Self {
        Api::default()
    }

    /// The prefix the routes are mounted at (default `/api`), for the catchers.
    ///
    /// Errors: [`Error::Config`] for a prefix that is not a plain absolute path.
    pub fn prefix(mut self, prefix: &str) -> Result<Self, Error> {
        self.mount = self.mount.with_prefix(prefix)?;
        Ok(self)
    }

    /// Serve share links (`GET /r/{code}`) under `path` instead of `/r` (see
    /// [`root_routes`](Self::root_routes)); the stage takes it from the engine's
    /// [`Config::share_path`](referral_core::Config::share_path).
    ///
    /// Errors: [`Error::Config`] for a path that is not plain absolute segments.
    pub fn share_path(mut self, path: &str) -> Result<Self, Error> {
        self.mount = self.mount.share_path(path)?;
        Ok(self)
    }

    /// Serve only these endpoints.
    pub fn only(mut self, endpoints: impl IntoIterator<Item = Endpoint>) -> Self {
        self.mount = self.mount.only(endpoints);
        self
    }

    /// Serve every endpoint chosen so far but these.
    pub fn without(mut self, endpoints: impl IntoIterator<Item = Endpoint>) -> Self {
        self.mount = self.mount.without(endpoints);
        self
    }

    /// The mount: prefix and endpoints.
    pub fn mount(&self) -> &Mount {
        &self.mount
    }

    /// One route per endpoint (named `referral::<endpoint>`, e.g. `referral::login`), and
    /// the catch-alls answering `404`/`405` for everything else under the base they are
    /// mounted at.
    ///
    /// Endpoints at the app root (share links) are not among them: mount
    /// [`root_routes`](Self::root_routes) at `/` for those.
    pub fn routes(&self) -> Vec<Route> {
        let endpoints = self
            .mount
            .endpoints()
            .filter(|endpoint| endpoint.scope() == Scope::Api)
            .map(|endpoint| self.endpoint_route(endpoint, endpoint.path()));
        let fallbacks = METHODS.into_iter().map(|method| {
            let mut route = Route::ranked(
                ROUTE_RANK,
                method,
                "/<path..>",
                FallbackHandler {
                    mount: self.mount.clone(),
                },
            );
            route.name = Some("referral::unrouted".into());
            route
        });
        endpoints.chain(fallbacks).collect()
    }

    /// The routes of the endpoints at the app root (`GET /r/<code>`, share links, under the
    /// [`share_path`](Self::share_path)), with their full paths: mount them at `/`
    /// (`rocket.mount("/", api.root_routes())`; the stage does). Another method on those
    /// paths answers the contract's `405` with `Allow`.
    pub fn root_routes(&self) -> Vec<Route> {
        let mut routes = Vec::new();
        for endpoint in self.mount.endpoints() {
            if endpoint.scope() == Scope::Api {
                continue;
            }
            let path = self.mount.route_path(endpoint);
            routes.push(self.endpoint_route(endpoint, &path));
            for method in METHODS {
                let mut route = Route::ranked(
                    ROUTE_RANK,
                    method,
                    &rocket_path(&path),
                    FallbackHandler {
                        mount: self.mount.clone(),
                    },
                );
                route.name = Some("referral::unrouted".into());
                routes.push(route);
            }
        }
        routes
    }

    fn endpoint_route(&self, endpoint: Endpoint, path: &str) -> Route {
        let spec = endpoint.spec();
        let mut route = Route::ranked(
            ENDPOINT_RANK,
            rocket_method(spec.method),
            &rocket_path(path),
            EndpointHandler {
                endpoint,
                mount: self.mount.clone(),
            },
        );
        route.name = Some(format!("referral::{}", spec.name).into());
        route
    }

    /// Problem-document catchers for what Rocket answers on its own under the mount (a
    /// failed guard, a body Rocket refused, a method it cannot parse — the last routed by
    /// path like axum does): register them at the prefix the routes are mounted at.
    pub fn catchers(&self) -> Vec<Catcher> {
        api_catchers(self.mount.clone())
    }
}

fn rocket_method(method: EndpointMethod) -> Method {
    match method {
        EndpointMethod::Get => Method::Get,
        EndpointMethod::Post => Method::Post,
        EndpointMethod::Put => Method::Put,
        EndpointMethod::Patch => Method::Patch,
        EndpointMethod::Delete => Method::Delete,
    }
}

/// `/users/{id}` as Rocket writes it: `/users/<id>`.
fn rocket_path(template: &str) -> String {
    template.replace('{', "<").replace('}', ">")
}

/// The mount as this request reached it: the prefix is where the route was mounted.
fn mount_of<'m>(mount: &'m Mount, request: &Request<'_>) -> Cow<'m, Mount> {
    request
        .route()
        .and_then(|route| mount.at_prefix(route.uri.base()).ok())
        .unwrap_or(Cow::Borrowed(mount))
}

fn engine_of<'r>(request: &'r Request<'_>) -> Option<&'r Engine> {
    let engine = request.rocket().state::<Engine>();
    if engine.is_none() {
        tracing::error!(
            "the referral routes need the Engine as managed state: call `.manage(engine)` \
             or attach `referral_rocket::stage_with(engine)`"
        );
    }
    engine
}

/// One endpoint: the request, as the engine reads it, goes to [`Engine::serve`].
#[derive(Clone)]
struct EndpointHandler {
    endpoint: Endpoint,
    mount: Mount,
}

#[rocket::async_trait]
impl Handler for EndpointHandler {
    async fn handle<'r>(&self, request: &'r Request<'_>, data: Data<'r>) -> route::Outcome<'r> {
        let Some(engine) = engine_of(request) else {
            return route::Outcome::from(request, EngineResponse(ApiResponse::for_status(500)));
        };
        let mut api_request = api_request(request, request.method().as_str());
        if self.endpoint.spec().body {
            api_request.body = read_body(engine, request, data).await;
        }
        let mount = mount_of(&self.mount, request);
        let response = engine.serve(&mount, self.endpoint, api_request).await;
        route::Outcome::from(request, EngineResponse(response))
    }
}

/// What no endpoint route took under the mount: `404`, or `405` with `Allow`.
#[derive(Clone)]
struct FallbackHandler {
    mount: Mount,
}

#[rocket::async_trait]
impl Handler for FallbackHandler {
    async fn handle<'r>(&self, request: &'r Request<'_>, _: Data<'r>) -> route::Outcome<'r> {
        let Some(engine) = engine_of(request) else {
            return route::Outcome::from(request, EngineResponse(ApiResponse::for_status(500)));
        };
        let mount = mount_of(&self.mount, request);
        let response = engine
            .fallback(&mount, api_request(request, request.method().as_str()))
            .await;
        route::Outcome::from(request, EngineResponse(response))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_endpoint_gets_a_named_route_and_paths_use_rockets_syntax() {
        let api = Api::new();
        let mut routes = api.routes();
        routes.extend(api.root_routes());
        for endpoint in Endpoint::all() {
            let name = format!("referral::{}", endpoint.name());
            assert_eq!(
                routes
                    .iter()
                    .filter(|route| route.name.as_deref() == Some(name.as_str()))
                    .count(),
                1,
                "{name}"
            );
        }
        assert_eq!(rocket_path("/users/{id}/approve"), "/users/<id>/approve");
    }
}
