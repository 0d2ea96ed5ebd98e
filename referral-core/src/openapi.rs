//! The OpenAPI 3.1 document of the HTTP contract, generated from the body types, so both
//! adapters serve the same one at `GET /api/openapi.json`.

use std::sync::LazyLock;

use utoipa::openapi::path::{
    HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItem,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::response::{ResponseBuilder, ResponsesBuilder};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, OpenApiVersion, Ref, Required};
use utoipa::OpenApi;

use crate::error::FieldError;
use crate::http::{
    Health, LoginRequest, MessageBody, Problem, Referral, ReferralPage, ReferralStats,
    RefreshRequest, RegisterRequest, Registered, ResetConfirmRequest, ResetRequest, Route, Tokens,
    User, JSON, PROBLEM_JSON,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "referral",
        description = "Accounts, JWT authentication, password reset by email, and referrals with rewards."
    ),
    components(schemas(
        RegisterRequest,
        LoginRequest,
        RefreshRequest,
        ResetRequest,
        ResetConfirmRequest,
        User,
        Tokens,
        Registered,
        MessageBody,
        Referral,
        ReferralPage,
        ReferralStats,
        Health,
        Problem,
        FieldError
    ))
)]
struct Components;

/// What each route documents: summary, request schema, success status and schema, the
/// problem codes it can answer, and whether it needs a bearer token.
struct Spec {
    summary: &'static str,
    request: Option<&'static str>,
    success: (u16, Option<&'static str>),
    problems: &'static [(u16, &'static str)],
    bearer: bool,
}

fn spec(route: Route) -> Spec {
    const AUTH: &[(u16, &str)] = &[(401, "unauthorized"), (503, "unavailable")];
    match route {
        Route::Register => Spec {
            summary: "Create an account, optionally with someone's referral code",
            request: Some("RegisterRequest"),
            success: (201, Some("Registered")),
            problems: &[
                (400, "invalid_json"),
                (409, "email_taken"),
                (413, "payload_too_large"),
                (422, "validation_failed, unknown_referral_code"),
                (503, "unavailable"),
            ],
            bearer: false,
        },
        Route::Login => Spec {
            summary: "Exchange email and password for tokens",
            request: Some("LoginRequest"),
            success: (200, Some("Tokens")),
            problems: &[
                (400, "invalid_json"),
                (401, "invalid_credentials"),
                (429, "rate_limited"),
                (503, "unavailable"),
            ],
            bearer: false,
        },
        Route::Refresh => Spec {
            summary: "Rotate a refresh token for a new token pair",
            request: Some("RefreshRequest"),
            success: (200, Some("Tokens")),
            problems: &[
                (400, "invalid_json"),
                (401, "invalid_refresh_token"),
                (503, "unavailable"),
            ],
            bearer: false,
        },
        Route::Logout => Spec {
            summary: "Revoke a refresh token",
            request: Some("RefreshRequest"),
            success: (204, None),
            problems: &[(400, "invalid_json"), (503, "unavailable")],
            bearer: false,
        },
        Route::Me => Spec {
            summary: "The current user",
            request: None,
            success: (200, Some("User")),
            problems: AUTH,
            bearer: true,
        },
        Route::ResetRequest => Spec {
            summary: "Send a password reset link if the email is registered",
            request: Some("ResetRequest"),
            success: (202, Some("MessageBody")),
            problems: &[
                (400, "invalid_json"),
                (422, "validation_failed"),
                (503, "unavailable"),
            ],
            bearer: false,
        },
        Route::ResetConfirm => Spec {
            summary: "Set a new password with a reset token",
            request: Some("ResetConfirmRequest"),
            success: (200, Some("MessageBody")),
            problems: &[
                (400, "invalid_json, invalid_reset_token"),
                (422, "validation_failed"),
                (503, "unavailable"),
            ],
            bearer: false,
        },
        Route::Referrals => Spec {
            summary: "The users you referred, newest first",
            request: None,
            success: (200, Some("ReferralPage")),
            problems: &[
                (401, "unauthorized"),
                (422, "validation_failed"),
                (503, "unavailable"),
            ],
            bearer: true,
        },
        Route::ReferralStats => Spec {
            summary: "Your referral statistics",
            request: None,
            success: (200, Some("ReferralStats")),
            problems: AUTH,
            bearer: true,
        },
        Route::Health => Spec {
            summary: "Whether the service and its storage answer",
            request: None,
            success: (200, Some("Health")),
            problems: &[(503, "unavailable")],
            bearer: false,
        },
        Route::OpenApi => Spec {
            summary: "This document",
            request: None,
            success: (200, None),
            problems: &[],
            bearer: false,
        },
    }
}

fn content(schema: &str) -> utoipa::openapi::Content {
    ContentBuilder::new()
        .schema(Some(Ref::from_schema_name(schema)))
        .build()
}

fn build() -> Document {
    let mut doc = Components::openapi();
    doc.openapi = OpenApiVersion::Version31;
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    if let Some(components) = doc.components.as_mut() {
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
    for route in Route::ALL {
        let spec = spec(route);
        let (status, schema) = spec.success;
        let mut success = ResponseBuilder::new().description(crate::http::reason_phrase_ok(status));
        if let Some(schema) = schema {
            success = success.content(JSON, content(schema));
        }
        let mut responses = ResponsesBuilder::new().response(status.to_string(), success.build());
        for (status, codes) in spec.problems {
            let response = ResponseBuilder::new()
                .description(format!("Problem document; code: {codes}"))
                .content(PROBLEM_JSON, content("Problem"))
                .build();
            responses = responses.response(status.to_string(), response);
        }
        let mut operation = OperationBuilder::new()
            .summary(Some(spec.summary))
            .responses(responses.build());
        if let Some(request) = spec.request {
            operation = operation.request_body(Some(
                RequestBodyBuilder::new()
                    .content(JSON, content(request))
                    .required(Some(Required::True))
                    .build(),
            ));
        }
        if spec.bearer {
            operation =
                operation.security(SecurityRequirement::new("bearer", Vec::<String>::new()));
        }
        if route == Route::Referrals {
            for (name, description) in [
                ("limit", "Page size, 1 to 100 (default 50)"),
                ("cursor", "next_cursor of the previous page"),
            ] {
                operation = operation.parameter(
                    ParameterBuilder::new()
                        .name(name)
                        .parameter_in(ParameterIn::Query)
                        .required(Required::False)
                        .description(Some(description))
                        .build(),
                );
            }
        }
        let method = if route.method() == "GET" {
            HttpMethod::Get
        } else {
            HttpMethod::Post
        };
        doc.paths.paths.insert(
            route.path().to_owned(),
            PathItem::new(method, operation.build()),
        );
    }
    doc
}

static DOCUMENT: LazyLock<Document> = LazyLock::new(build);

/// The OpenAPI 3.1 document of the contract.
pub fn document() -> &'static Document {
    &DOCUMENT
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_documented_with_its_method() {
        let json = serde_json::to_value(document()).unwrap();
        assert_eq!(json["openapi"], "3.1.0");
        for route in Route::ALL {
            let method = route.method().to_lowercase();
            assert!(
                json["paths"][route.path()][&method].is_object(),
                "{} missing",
                route.path()
            );
        }
        assert!(json["components"]["schemas"]["Problem"].is_object());
    }
}
