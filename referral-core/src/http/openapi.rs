//! The OpenAPI 3.1 document of the HTTP contract, written from the endpoint table and the
//! body types, for the endpoints and prefix a [`Mount`] serves, so both adapters serve the
//! same one at `GET {prefix}/openapi.json`.

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{
    HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItem,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::response::{ResponseBuilder, ResponsesBuilder};
use utoipa::openapi::schema::{Object, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, OpenApiVersion, Ref, Required};
use utoipa::OpenApi;

use super::bodies::{
    AdjustmentRequest, ChangePasswordRequest, ConversionRequest, DeleteAccountRequest, Health,
    LoginRequest, MessageBody, PasswordChanged, ReferralCodeRequest, RefreshRequest,
    RegisterRequest, ResetConfirmRequest, ResetRequest, RevokeRequest, UpdateMeRequest,
    VerifyEmailRequest,
};
use super::endpoints::{Access, Method, Mount};
use super::{reason_phrase_ok, Problem, JSON, PROBLEM_JSON};
use crate::engine::{
    AccessUpdate, AdminReferrer, AdminUser, AdminUserDetail, AdminUserPage, AuditLogEntry,
    AuditPage, ConversionOutcome, Referral, ReferralPage, ReferralStats, Registered, Reward,
    RewardPage,
};
use crate::error::FieldError;
use crate::outbox::{DeadLetterPage, DeadLetterView};
use crate::rewards::{RewardKind, RewardStatus};
use crate::tokens::Tokens;
use crate::user::User;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "referral",
        description = "Accounts, JWT authentication, email verification, password reset by email, and referrals with a reward lifecycle."
    ),
    components(schemas(
        RegisterRequest,
        LoginRequest,
        RefreshRequest,
        ResetRequest,
        ResetConfirmRequest,
        ChangePasswordRequest,
        PasswordChanged,
        DeleteAccountRequest,
        UpdateMeRequest,
        ReferralCodeRequest,
        User,
        Tokens,
        Registered,
        MessageBody,
        Referral,
        ReferralPage,
        ReferralStats,
        VerifyEmailRequest,
        Reward,
        RewardPage,
        RewardKind,
        RewardStatus,
        Health,
        Problem,
        FieldError,
        AccessUpdate,
        AdminUser,
        AdminUserPage,
        AdminReferrer,
        AdminUserDetail,
        RevokeRequest,
        AdjustmentRequest,
        ConversionRequest,
        ConversionOutcome,
        DeadLetterView,
        DeadLetterPage,
        AuditLogEntry,
        AuditPage
    ))
)]
struct Components;

fn content(schema: &str) -> utoipa::openapi::Content {
    ContentBuilder::new()
        .schema(Some(Ref::from_schema_name(schema)))
        .build()
}

/// The OpenAPI 3.1 document of what `mount` serves.
pub fn document(mount: &Mount) -> Document {
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
    for endpoint in mount.endpoints() {
        let spec = endpoint.spec();
        let (status, schema) = spec.success;
        let mut success = ResponseBuilder::new().description(reason_phrase_ok(status));
        if let Some(schema) = schema {
            success = success.content(JSON, content(schema));
        }
        if status == 302 {
            success = success.header(
                "Location",
                HeaderBuilder::new()
                    .schema(Object::with_type(Type::String))
                    .description(Some("Where to go: the registration page"))
                    .build(),
            );
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
            .operation_id(Some(spec.name))
            .summary(Some(spec.summary))
            .responses(responses.build());
        if let Some(request) = spec.request_schema {
            operation = operation.request_body(Some(
                RequestBodyBuilder::new()
                    .content(JSON, content(request))
                    .required(Some(Required::True))
                    .build(),
            ));
        }
        if spec.access != Access::Public {
            operation =
                operation.security(SecurityRequirement::new("bearer", Vec::<String>::new()));
        }
        for name in path_parameters(spec.path) {
            operation = operation.parameter(
                ParameterBuilder::new()
                    .name(name)
                    .parameter_in(ParameterIn::Path)
                    .required(Required::True)
                    .schema(Some(Object::with_type(Type::String)))
                    .description((name == "id").then_some("The id (a UUID)"))
                    .build(),
            );
        }
        if let Access::Permission(permission) = spec.access {
            operation =
                operation.description(Some(format!("Requires the permission `{permission}`.")));
        }
        for (name, description) in spec.query {
            operation = operation.parameter(
                ParameterBuilder::new()
                    .name(*name)
                    .parameter_in(ParameterIn::Query)
                    .required(Required::False)
                    .description(Some(*description))
                    .build(),
            );
        }
        let method = match spec.method {
            Method::Get => HttpMethod::Get,
            Method::Post => HttpMethod::Post,
            Method::Put => HttpMethod::Put,
            Method::Patch => HttpMethod::Patch,
            Method::Delete => HttpMethod::Delete,
        };
        let operation = operation.build();
        let path = mount.route_path(endpoint);
        match doc.paths.paths.get_mut(&path) {
            Some(item) => item.merge_operations(PathItem::new(method, operation)),
            None => {
                doc.paths
                    .paths
                    .insert(path, PathItem::new(method, operation));
            }
        }
    }
    doc
}

/// The `{name}` parameters of a path template, in order.
fn path_parameters(template: &str) -> impl Iterator<Item = &str> {
    template
        .split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Endpoint;

    #[test]
    fn every_mounted_endpoint_is_documented_under_the_prefix() {
        let mount = Mount::new("/auth").unwrap().without([Endpoint::Register]);
        let json = serde_json::to_value(document(&mount)).unwrap();
        assert_eq!(json["openapi"], "3.1.0");
        for endpoint in mount.endpoints() {
            let method = endpoint.method().as_str().to_lowercase();
            let path = mount.route_path(endpoint);
            assert!(json["paths"][&path][&method].is_object(), "{path} missing");
        }
        assert!(json["paths"]["/auth/register"].is_null());
        assert!(json["paths"]["/api/login"].is_null());
        assert!(json["components"]["schemas"]["Problem"].is_object());
    }

    #[test]
    fn path_parameters_and_required_permissions_are_documented() {
        let json = serde_json::to_value(document(&Mount::default())).unwrap();
        let patch = &json["paths"]["/api/admin/users/{id}"]["patch"];
        assert_eq!(patch["parameters"][0]["name"], "id");
        assert_eq!(patch["parameters"][0]["in"], "path");
        assert!(patch["description"]
            .as_str()
            .is_some_and(|text| text.contains("admin:users:write")));
        assert!(patch["responses"]["409"].is_object());
        for schema in [
            "AdminUserPage",
            "AdminUserDetail",
            "AuditPage",
            "AccessUpdate",
            "RevokeRequest",
            "AdjustmentRequest",
            "ConversionOutcome",
            "DeadLetterPage",
            "RewardPage",
            "Reward",
        ] {
            assert!(
                json["components"]["schemas"][schema].is_object(),
                "{schema}"
            );
        }
    }

    #[test]
    fn share_links_are_documented_at_the_root_with_their_parameter_and_redirect() {
        let json = serde_json::to_value(document(&Mount::default())).unwrap();
        let share = &json["paths"]["/r/{code}"]["get"];
        assert_eq!(share["parameters"][0]["name"], "code");
        assert_eq!(share["parameters"][0]["in"], "path");
        assert_eq!(share["parameters"][0]["required"], true);
        assert!(share["responses"]["302"]["headers"]["Location"].is_object());
        assert!(json["paths"]["/api/r/{code}"].is_null());
        let put = &json["paths"]["/api/referral-code"]["put"];
        assert!(put["responses"]["409"].is_object());
        let stats = &json["components"]["schemas"]["ReferralStats"]["properties"];
        for field in ["clicks", "clicks_last_30_days", "share_link"] {
            assert!(stats[field].is_object(), "{field}");
        }
    }
}
