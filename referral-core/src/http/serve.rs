//! Answering requests: one endpoint of a mount ([`Engine::serve`]), whatever a mount does
//! not route ([`Engine::fallback`]), or anything under the default mount
//! ([`Engine::handle`]). Every decision — parsing, authentication, status, headers, body —
//! is made here, once, for both adapters.

use std::time::Instant;

use serde::de::DeserializeOwned;

use super::bodies::{
    AdjustmentRequest, AdminRewardsQuery, AdminUsersQuery, ChangePasswordRequest,
    ConversionRequest, DeleteAccountRequest, Health, LoginRequest, MessageBody, PasswordChanged,
    ReferralCodeRequest, ReferralsQuery, RefreshRequest, RegisterRequest, ResetConfirmRequest,
    ResetRequest, RevokeRequest, UpdateMeRequest, VerifyEmailRequest,
};
use super::endpoints::{Access, Endpoint, Mount, PathParams};
use super::{openapi, ApiRequest, ApiResponse, RequestBody, JSON, MAX_BODY_BYTES};
use crate::engine::{
    AccessUpdate, Engine, NewAccount, DEFAULT_PAGE_SIZE, PASSWORD_CHANGED_MESSAGE,
    RESET_DONE_MESSAGE, RESET_REQUESTED_MESSAGE, VERIFICATION_SENT_MESSAGE,
};
use crate::error::Error;
use crate::outbox::REDELIVERY_QUEUED_MESSAGE;
use crate::rewards::RewardStatus;
use crate::user::UserRecord;

/// A request routed to an endpoint: what a handler reads.
struct Call<'a> {
    mount: &'a Mount,
    request: &'a ApiRequest,
    params: PathParams,
    user: Option<UserRecord>,
}

impl Engine {
    /// Answers a request for `endpoint` of `mount`: what an adapter's native route for the
    /// endpoint calls. Never panics; every failure is a problem document.
    ///
    /// A request whose method or path does not fit the endpoint (an adapter routing it
    /// wrongly) is answered as [`fallback`](Self::fallback) would.
    pub async fn serve(
        &self,
        mount: &Mount,
        endpoint: Endpoint,
        request: ApiRequest,
    ) -> ApiResponse {
        let started = Instant::now();
        let response = match mount.resolve(&request.method, &request.path) {
            Ok((routed, params)) if routed == endpoint => self
                .answer(mount, endpoint, &request, params)
                .await
                .unwrap_or_else(|error| ApiResponse::error(&error)),
            Ok(_) | Err(_) => return self.fallback(mount, request).await,
        };
        log(&request, &response, started);
        response
    }

    /// Answers a request `mount`'s routes did not take: `404 not_found`, or `405
    /// method_not_allowed` with `Allow` when a mounted endpoint has the path; a request that
    /// does fit a mounted endpoint is served by it.
    pub async fn fallback(&self, mount: &Mount, request: ApiRequest) -> ApiResponse {
        let started = Instant::now();
        let response = match mount.resolve(&request.method, &request.path) {
            Ok((endpoint, params)) => self
                .answer(mount, endpoint, &request, params)
                .await
                .unwrap_or_else(|error| ApiResponse::error(&error)),
            Err(error) => ApiResponse::error(&error),
        };
        log(&request, &response, started);
        response
    }

    /// Answers any request under the default mount (every endpoint under `/api`).
    pub async fn handle(&self, request: ApiRequest) -> ApiResponse {
        self.fallback(&Mount::default(), request).await
    }

    /// Checks an `Authorization` header value (`Bearer <JWT>`) and answers either the user or
    /// the complete `401` to send: what adapters' `AuthUser` extractors and guards call.
    pub async fn authorize(&self, authorization: Option<&str>) -> Result<UserRecord, ApiResponse> {
        self.authorize_header(authorization)
            .await
            .map_err(|error| ApiResponse::error(&error))
    }

    /// Checks an `Authorization` header value as [`authorize`](Self::authorize) does, then
    /// that the user holds `permission`: the user, or the complete `401` or `403 forbidden`
    /// to send. What adapters' `RequirePermission` extractors and guards call.
    pub async fn authorize_permission(
        &self,
        authorization: Option<&str>,
        permission: &str,
    ) -> Result<UserRecord, ApiResponse> {
        self.authorize_header_for(authorization, Some(permission))
            .await
            .map_err(|error| ApiResponse::error(&error))
    }

    async fn authorize_header_for(
        &self,
        authorization: Option<&str>,
        permission: Option<&str>,
    ) -> Result<UserRecord, Error> {
        let user = self.authorize_header(authorization).await?;
        if let Some(permission) = permission {
            self.require_permission(&user, permission)?;
        }
        Ok(user)
    }

    async fn authorize_header(&self, authorization: Option<&str>) -> Result<UserRecord, Error> {
        let header = authorization.ok_or(Error::Unauthorized)?.trim();
        let (scheme, token) = header.split_once(' ').ok_or(Error::Unauthorized)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(Error::Unauthorized);
        }
        self.authenticate(token).await
    }

    async fn answer(
        &self,
        mount: &Mount,
        endpoint: Endpoint,
        request: &ApiRequest,
        params: PathParams,
    ) -> Result<ApiResponse, Error> {
        let authorization = request.authorization.as_deref();
        let user = match endpoint.spec().access {
            Access::Public => None,
            Access::Bearer => Some(self.authorize_header_for(authorization, None).await?),
            Access::Permission(permission) => Some(
                self.authorize_header_for(authorization, Some(permission))
                    .await?,
            ),
        };
        let call = Call {
            mount,
            request,
            params,
            user,
        };
        match endpoint {
            Endpoint::Register => self.http_register(call).await,
            Endpoint::Login => {
                let body: LoginRequest = parse_json(request)?;
                Ok(ApiResponse::json(
                    200,
                    &self.login(&body.email, &body.password).await?,
                ))
            }
            Endpoint::Refresh => {
                let body: RefreshRequest = parse_json(request)?;
                Ok(ApiResponse::json(
                    200,
                    &self.refresh(&body.refresh_token).await?,
                ))
            }
            Endpoint::Logout => {
                let body: RefreshRequest = parse_json(request)?;
                self.logout(&body.refresh_token).await?;
                Ok(ApiResponse::no_content())
            }
            Endpoint::Me => Ok(ApiResponse::json(200, &self.user_view(signed_in(&call)?))),
            Endpoint::UpdateMe => {
                let body: UpdateMeRequest = parse_json(request)?;
                let user = signed_in(&call)?;
                let user = match body.metadata {
                    Some(metadata) => {
                        self.update_metadata(user, crate::metadata::object(metadata)?)
                            .await?
                    }
                    None => user.clone(),
                };
                Ok(ApiResponse::json(200, &self.user_view(&user)))
            }
            Endpoint::ResetRequest => {
                let body: ResetRequest = parse_json(request)?;
                self.request_password_reset(&body.email, self.client_of(request))
                    .await?;
                Ok(message(202, RESET_REQUESTED_MESSAGE))
            }
            Endpoint::ResetConfirm => {
                let body: ResetConfirmRequest = parse_json(request)?;
                self.confirm_password_reset(&body.token, &body.new_password)
                    .await?;
                Ok(message(200, RESET_DONE_MESSAGE))
            }
            Endpoint::ChangePassword => {
                let body: ChangePasswordRequest = parse_json(request)?;
                let tokens = self
                    .change_password(
                        signed_in(&call)?,
                        &body.current_password,
                        &body.new_password,
                    )
                    .await?;
                Ok(ApiResponse::json(
                    200,
                    &PasswordChanged {
                        message: PASSWORD_CHANGED_MESSAGE.to_owned(),
                        tokens,
                    },
                ))
            }
            Endpoint::DeleteMe => {
                let body: DeleteAccountRequest = parse_json(request)?;
                self.delete_own_account(signed_in(&call)?, &body.password)
                    .await?;
                Ok(ApiResponse::no_content())
            }
            Endpoint::AdminDeleteUser => {
                let id = user_id_param(&call)?;
                self.erase_user(id, Some(signed_in(&call)?.id)).await?;
                Ok(ApiResponse::no_content())
            }
            Endpoint::Referrals => {
                let (limit, cursor) = page_query(request)?;
                let page = self
                    .referrals(signed_in(&call)?, limit, cursor.as_deref())
                    .await?;
                Ok(ApiResponse::json(200, &page))
            }
            Endpoint::Rewards => {
                let (limit, cursor) = page_query(request)?;
                let page = self
                    .rewards(signed_in(&call)?, limit, cursor.as_deref())
                    .await?;
                Ok(ApiResponse::json(200, &page))
            }
            Endpoint::VerifyEmail => {
                let body: VerifyEmailRequest = parse_json(request)?;
                Ok(ApiResponse::json(
                    200,
                    &self.verify_email(&body.token).await?,
                ))
            }
            Endpoint::VerifyEmailResend => {
                self.resend_verification(signed_in(&call)?).await?;
                Ok(message(202, VERIFICATION_SENT_MESSAGE))
            }
            Endpoint::ReferralStats => Ok(ApiResponse::json(
                200,
                &self.referral_stats(signed_in(&call)?).await?,
            )),
            Endpoint::ReferralCode => {
                let body: ReferralCodeRequest = parse_json(request)?;
                let stats = self
                    .set_referral_code(signed_in(&call)?, &body.code)
                    .await?;
                Ok(ApiResponse::json(200, &stats))
            }
            Endpoint::ShareLink => {
                let code = call.params.get("code").unwrap_or_default();
                let location = self
                    .follow_share_link(code, self.client_of(request), request.user_agent.as_deref())
                    .await;
                Ok(ApiResponse::redirect(&location))
            }
            Endpoint::Health => {
                self.health().await?;
                Ok(ApiResponse::json(
                    200,
                    &Health {
                        status: "ok".to_owned(),
                    },
                ))
            }
            Endpoint::OpenApi => Ok(ApiResponse::json(200, &openapi::document(mount))),
            Endpoint::AdminUsers => {
                let query: AdminUsersQuery = parse_query(request)?;
                let limit = page_limit(query.limit.as_deref())?;
                let page = self
                    .admin_users(query.query.as_deref(), limit, query.cursor.as_deref())
                    .await?;
                Ok(ApiResponse::json(200, &page))
            }
            Endpoint::AdminUser => {
                let id = user_id_param(&call)?;
                Ok(ApiResponse::json(200, &self.admin_user(id).await?))
            }
            Endpoint::AdminUpdateUser => {
                let id = user_id_param(&call)?;
                let update: AccessUpdate = parse_json(request)?;
                let user = self
                    .change_access(Some(signed_in(&call)?), id, update)
                    .await?;
                Ok(ApiResponse::json(
                    200,
                    &self.admin_user_detail(&user).await?,
                ))
            }
            Endpoint::AdminAudit => {
                let (limit, cursor) = page_query(request)?;
                let page = self.audit_log(limit, cursor.as_deref()).await?;
                Ok(ApiResponse::json(200, &page))
            }
            Endpoint::AdminRewards => {
                let query: AdminRewardsQuery = parse_query(request)?;
                let status = reward_status_query(query.status.as_deref())?;
                let limit = page_limit(query.limit.as_deref())?;
                let page = self
                    .rewards_with_status(status, limit, query.cursor.as_deref())
                    .await?;
                Ok(ApiResponse::json(200, &page))
            }
            Endpoint::AdminApproveReward => {
                let id = id_param(&call, Error::UnknownReward)?;
                let reward = self.approve_reward(Some(signed_in(&call)?), id).await?;
                Ok(ApiResponse::json(200, &reward))
            }
            Endpoint::AdminDeadLetters => {
                let (limit, cursor) = page_query(request)?;
                let page = self.dead_letter_page(limit, cursor.as_deref()).await?;
                Ok(ApiResponse::json(200, &page))
            }
            Endpoint::AdminRedeliver => {
                let id = id_param(&call, Error::UnknownDeadLetter)?;
                self.redeliver_dead_letter_as(Some(signed_in(&call)?), id)
                    .await?;
                Ok(message(202, REDELIVERY_QUEUED_MESSAGE))
            }
            Endpoint::AdminAdjustPoints => {
                let id = user_id_param(&call)?;
                let body: AdjustmentRequest = parse_json(request)?;
                let reward = self
                    .adjust_points(Some(signed_in(&call)?), id, body.points, &body.reason)
                    .await?;
                Ok(ApiResponse::json(201, &reward))
            }
            Endpoint::AdminRecordConversion => {
                let id = id_param(&call, Error::UnknownUser)?;
                let body: ConversionRequest = parse_json(request)?;
                let outcome = self
                    .record_conversion_as(
                        signed_in(&call)?,
                        id,
                        &body.kind,
                        &body.external_id,
                        body.value,
                    )
                    .await?;
                let status = if outcome.recorded { 201 } else { 200 };
                Ok(ApiResponse::json(status, &outcome))
            }
            Endpoint::AdminRevokeReward => {
                let id = id_param(&call, Error::UnknownReward)?;
                let body: RevokeRequest = parse_json(request)?;
                let reward = self
                    .revoke_reward(Some(signed_in(&call)?), id, &body.reason)
                    .await?;
                Ok(ApiResponse::json(200, &reward))
            }
        }
    }

    async fn http_register(&self, call: Call<'_>) -> Result<ApiResponse, Error> {
        let body: RegisterRequest = parse_json(call.request)?;
        let mut account =
            NewAccount::new(body.email, body.password).client_address(self.client_of(call.request));
        account.referral_code = body.referral_code;
        // `null` is as good as leaving it out: `{}`.
        if let Some(metadata) = body.metadata.filter(|value| !value.is_null()) {
            account.metadata = crate::metadata::object(metadata)?;
        }
        let registered = self.register(account).await?;
        let mut response = ApiResponse::json(201, &registered);
        response
            .headers
            .push(("location", call.mount.route_path(Endpoint::Me)));
        Ok(response)
    }

    fn client_of(&self, request: &ApiRequest) -> Option<std::net::IpAddr> {
        self.client_address(request.peer, request.forwarded_for.as_deref())
    }
}

fn signed_in<'a>(call: &'a Call<'_>) -> Result<&'a UserRecord, Error> {
    call.user.as_ref().ok_or(Error::Unauthorized)
}

/// The `{id}` of an admin path: a user id; anything that is not a UUID names no user.
fn user_id_param(call: &Call<'_>) -> Result<uuid::Uuid, Error> {
    id_param(call, Error::UserNotFound)
}

/// The `{id}` of a path; `missing` (a `404`) when it is not a UUID, as it names nothing.
fn id_param(call: &Call<'_>, missing: Error) -> Result<uuid::Uuid, Error> {
    call.params
        .get("id")
        .and_then(|id| uuid::Uuid::parse_str(id).ok())
        .ok_or(missing)
}

/// The review queue's `status`: `pending` when absent.
fn reward_status_query(raw: Option<&str>) -> Result<RewardStatus, Error> {
    match raw.map(str::trim) {
        None | Some("") => Ok(RewardStatus::Pending),
        Some(name) => RewardStatus::parse(name).ok_or_else(|| {
            Error::invalid(
                "status",
                "invalid_status",
                "status must be pending, approved or revoked",
            )
        }),
    }
}

/// A page's `limit` query parameter: [`DEFAULT_PAGE_SIZE`] when absent; the engine checks
/// the range.
fn page_limit(raw: Option<&str>) -> Result<u32, Error> {
    match raw {
        None => Ok(DEFAULT_PAGE_SIZE),
        Some(raw) => raw.trim().parse::<u32>().map_err(|_| {
            Error::invalid(
                "limit",
                "out_of_range",
                "limit must be a whole number from 1 to 100",
            )
        }),
    }
}

fn message(status: u16, text: &str) -> ApiResponse {
    ApiResponse::json(
        status,
        &MessageBody {
            message: text.to_owned(),
        },
    )
}

fn log(request: &ApiRequest, response: &ApiResponse, started: Instant) {
    tracing::info!(
        target: "referral::http",
        method = %request.method,
        path = %request.path,
        status = response.status,
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
}

/// Reads a JSON body of type `T` the way the contract says: too large →
/// `payload_too_large`; not received in time → `request_timeout`; no `Content-Type`, or
/// another type than `application/json` or `*+json`, or bad syntax, or a wrong shape →
/// `invalid_json`.
///
/// For handlers of your own that replace an endpoint and keep its request rules.
pub fn parse_json<T: DeserializeOwned>(request: &ApiRequest) -> Result<T, Error> {
    let bytes = match &request.body {
        RequestBody::Complete(bytes) => bytes,
        RequestBody::TooLarge => {
            return Err(Error::PayloadTooLarge {
                limit: MAX_BODY_BYTES,
            })
        }
        RequestBody::TimedOut => return Err(Error::RequestTimeout),
    };
    // A body without a JSON type is refused even when it parses: browsers send only
    // `text/plain`, form and multipart bodies cross-origin without a preflight.
    let media = request
        .content_type
        .as_deref()
        .and_then(|value| value.split(';').next())
        .map(|media| media.trim().to_ascii_lowercase());
    match media.as_deref() {
        Some(media) if media == JSON || media.ends_with("+json") => {}
        Some(media) => {
            return Err(Error::InvalidJson(format!(
                "Content-Type must be application/json, not {media}"
            )))
        }
        None => {
            return Err(Error::InvalidJson(
                "Content-Type must be application/json; none was sent".into(),
            ))
        }
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::InvalidJson(
            "The request body is empty; a JSON object is expected".into(),
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        Error::InvalidJson(format!(
            "The request body is not valid JSON of the expected shape: {e}"
        ))
    })
}

/// `limit` (default 50; a field error when not a whole number) and `cursor` of a list.
fn page_query(request: &ApiRequest) -> Result<(u32, Option<String>), Error> {
    let query: ReferralsQuery = parse_query(request)?;
    Ok((page_limit(query.limit.as_deref())?, query.cursor))
}

fn parse_query<T: DeserializeOwned>(request: &ApiRequest) -> Result<T, Error> {
    serde_urlencoded::from_str(request.query.as_deref().unwrap_or("")).map_err(|e| {
        Error::invalid(
            "query",
            "invalid_query",
            &format!("query string is malformed: {e}"),
        )
    })
}
