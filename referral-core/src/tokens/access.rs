//! JWT access tokens: HS256, algorithm pinned, `exp`/`iss`/`aud` checked against the engine's
//! clock, and a per-user token version so a password reset retires earlier tokens.

use std::fmt;

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::error::Error;

const TOKEN_TYPE: &str = "access";

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// The user's id.
    pub sub: Uuid,
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
    /// Unique token id.
    pub jti: Uuid,
    /// The user's token version when issued; a password reset bumps it.
    pub ver: i64,
    /// Always `"access"`: no other token of ours carries this claim.
    pub typ: String,
    /// The user's roles when issued, for clients to read (a page showing admin links, say).
    /// The server decides on the roles stored with the user, which a change of roles makes
    /// the token's own again: it bumps the token version, so this token is refused.
    #[serde(default)]
    pub roles: Vec<String>,
}

/// A signed access token as handed to the client.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken(String);

impl AccessToken {
    /// The compact JWT.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken(<redacted>)")
    }
}

/// Signs and checks access tokens with one HS256 key.
#[derive(Clone)]
pub struct AccessTokenIssuer {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl: Duration,
}

impl fmt::Debug for AccessTokenIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessTokenIssuer")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl AccessTokenIssuer {
    /// An issuer signing with `secret` (callers check its length; see `Config`).
    pub fn new(secret: &[u8], issuer: &str, audience: &str, ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        // Expiry is checked against the engine's clock below, not the system clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.leeway = 0;
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        AccessTokenIssuer {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            ttl,
        }
    }

    /// How long a token lives.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Signs a token for `user` at token version `version`, issued at `now`, carrying no
    /// roles.
    pub fn issue(
        &self,
        user: Uuid,
        version: i64,
        now: OffsetDateTime,
    ) -> Result<AccessToken, Error> {
        self.issue_with_roles(user, version, &[], now)
    }

    /// Signs a token for `user` at token version `version` carrying `roles`, issued at
    /// `now`.
    pub fn issue_with_roles(
        &self,
        user: Uuid,
        version: i64,
        roles: &[crate::permissions::Role],
        now: OffsetDateTime,
    ) -> Result<AccessToken, Error> {
        let claims = AccessClaims {
            sub: user,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            iat: now.unix_timestamp(),
            exp: (now + self.ttl).unix_timestamp(),
            jti: Uuid::now_v7(),
            ver: version,
            typ: TOKEN_TYPE.to_owned(),
            roles: roles.iter().map(ToString::to_string).collect(),
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map(AccessToken)
            .map_err(|e| Error::Internal(format!("signing an access token failed: {e}")))
    }

    /// Checks signature, algorithm, issuer, audience, type and expiry at `now`.
    /// Every failure is `Error::Unauthorized`.
    pub fn verify(&self, token: &str, now: OffsetDateTime) -> Result<AccessClaims, Error> {
        let claims = decode::<AccessClaims>(token, &self.decoding, &self.validation)
            .map_err(|_| Error::Unauthorized)?
            .claims;
        if claims.typ != TOKEN_TYPE || claims.exp <= now.unix_timestamp() {
            return Err(Error::Unauthorized);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-23 22:47:22 UTC);

    fn issuer(secret: &[u8]) -> AccessTokenIssuer {
        AccessTokenIssuer::new(secret, "referral", "referral-api", Duration::minutes(15))
    }

    #[test]
    fn a_token_verifies_until_it_expires() {
        let keys = issuer(&[7; 32]);
        let user = Uuid::now_v7();
        let token = keys.issue(user, 3, NOW).unwrap();
        let claims = keys
            .verify(token.expose(), NOW + Duration::minutes(14))
            .unwrap();
        assert_eq!((claims.sub, claims.ver), (user, 3));
        assert!(keys
            .verify(token.expose(), NOW + Duration::minutes(15))
            .is_err());
    }

    #[test]
    fn a_token_signed_with_another_key_is_refused() {
        let token = issuer(&[1; 32]).issue(Uuid::now_v7(), 0, NOW).unwrap();
        assert!(issuer(&[2; 32]).verify(token.expose(), NOW).is_err());
    }

    #[test]
    fn a_token_for_another_audience_or_issuer_is_refused() {
        let other = AccessTokenIssuer::new(
            &[1; 32],
            "someone-else",
            "referral-api",
            Duration::minutes(15),
        );
        let token = other.issue(Uuid::now_v7(), 0, NOW).unwrap();
        assert!(issuer(&[1; 32]).verify(token.expose(), NOW).is_err());
        let other =
            AccessTokenIssuer::new(&[1; 32], "referral", "another-api", Duration::minutes(15));
        let token = other.issue(Uuid::now_v7(), 0, NOW).unwrap();
        assert!(issuer(&[1; 32]).verify(token.expose(), NOW).is_err());
    }

    #[test]
    fn an_unsigned_alg_none_token_is_refused() {
        let keys = issuer(&[1; 32]);
        let token = keys.issue(Uuid::now_v7(), 0, NOW).unwrap();
        let payload = token.expose().split('.').nth(1).unwrap();
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        assert!(keys.verify(&format!("{header}.{payload}."), NOW).is_err());
        let hs512 = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS512","typ":"JWT"}"#);
        assert!(keys
            .verify(&format!("{hs512}.{payload}.AAAA"), NOW)
            .is_err());
    }

    /// The claims `keys` puts in a token for a fresh user at `NOW`.
    fn issued_claims(keys: &AccessTokenIssuer) -> AccessClaims {
        let token = keys.issue(Uuid::now_v7(), 4, NOW).unwrap();
        keys.verify(token.expose(), NOW).unwrap()
    }

    /// `claims` signed with `secret` under `algorithm`.
    fn signed(algorithm: Algorithm, claims: &impl Serialize, secret: &[u8]) -> String {
        encode(
            &Header::new(algorithm),
            claims,
            &EncodingKey::from_secret(secret),
        )
        .unwrap()
    }

    #[test]
    fn a_token_correctly_signed_with_the_key_under_hs384_or_hs512_is_refused() {
        let secret = [1; 32];
        let keys = issuer(&secret);
        let claims = issued_claims(&keys);
        // The forgery is faithful: the same claims under HS256 are accepted.
        assert_eq!(
            keys.verify(&signed(Algorithm::HS256, &claims, &secret), NOW)
                .unwrap(),
            claims
        );
        for algorithm in [Algorithm::HS384, Algorithm::HS512] {
            assert!(
                matches!(
                    keys.verify(&signed(algorithm, &claims, &secret), NOW),
                    Err(Error::Unauthorized)
                ),
                "{algorithm:?}"
            );
        }
    }

    #[test]
    fn a_correctly_signed_token_of_another_type_is_refused() {
        let secret = [1; 32];
        let keys = issuer(&secret);
        let claims = issued_claims(&keys);
        assert!(keys
            .verify(&signed(Algorithm::HS256, &claims, &secret), NOW)
            .is_ok());
        for typ in ["refresh", "reset", "", "Access"] {
            let other = AccessClaims {
                typ: typ.to_owned(),
                ..claims.clone()
            };
            assert!(
                matches!(
                    keys.verify(&signed(Algorithm::HS256, &other, &secret), NOW),
                    Err(Error::Unauthorized)
                ),
                "typ {typ:?}"
            );
        }
        let mut untyped = serde_json::to_value(&claims).unwrap();
        untyped.as_object_mut().unwrap().remove("typ");
        assert!(matches!(
            keys.verify(&signed(Algorithm::HS256, &untyped, &secret), NOW),
            Err(Error::Unauthorized)
        ));
    }

    #[test]
    fn a_token_carries_the_roles_it_was_issued_with() {
        let keys = issuer(&[1; 32]);
        let roles = [
            crate::permissions::Role::user(),
            crate::permissions::Role::admin(),
        ];
        let token = keys
            .issue_with_roles(Uuid::now_v7(), 0, &roles, NOW)
            .unwrap();
        let claims = keys.verify(token.expose(), NOW).unwrap();
        assert_eq!(claims.roles, ["user", "admin"]);
    }

    #[test]
    fn garbage_is_refused() {
        let keys = issuer(&[1; 32]);
        for bad in ["", "abc", "a.b.c", "Bearer x"] {
            assert!(keys.verify(bad, NOW).is_err());
        }
    }
}
