//! Record builders and seeding for tests and benchmarks that write straight to a
//! [`Storage`], bypassing the engine (and its argon2 cost).

use std::sync::Arc;

use time::{Duration, OffsetDateTime};
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::email::Email;
use crate::password::PasswordHash;
use crate::permissions::Role;
use crate::referral_code::ReferralCode;
use crate::rewards::RewardPolicy;
use crate::storage::{NewReferral, NewUser, RefreshTokenRecord, Storage, StorageError};
use crate::tokens::OpaqueToken;
use crate::user::UserRecord;

/// A PHC-shaped hash nobody's password matches: storage never verifies hashes.
pub fn unusable_hash() -> PasswordHash {
    PasswordHash::from_phc("$argon2id$v=19$m=19456,t=2,p=1$c2VlZHNlZWQ$c2VlZHNlZWRzZWVkc2VlZA")
}

/// A user record with a fresh id and referral code, referred by nobody.
pub fn user_record(
    email: Email,
    password_hash: PasswordHash,
    created_at: OffsetDateTime,
) -> UserRecord {
    UserRecord {
        id: Uuid::now_v7(),
        email,
        password_hash,
        referral_code: ReferralCode::generate(),
        referred_by: None,
        token_version: 0,
        created_at,
        email_verified: false,
        metadata: serde_json::Map::new(),
        roles: vec![Role::user()],
        disabled_at: None,
    }
}

/// A refresh token record for `user` issued at `issued_at`, living 30 days, in a new family.
pub fn refresh_token(user: Uuid, issued_at: OffsetDateTime) -> RefreshTokenRecord {
    RefreshTokenRecord {
        hash: OpaqueToken::generate().hash(),
        user_id: user,
        family_id: Uuid::now_v7(),
        issued_at,
        expires_at: issued_at + Duration::days(30),
        token_version: 0,
    }
}

/// The registration of `user` without a referral code.
pub fn registration(user: UserRecord) -> NewUser {
    let refresh_token = refresh_token(user.id, user.created_at);
    NewUser {
        user,
        referral: None,
        refresh_token,
        outbox: Vec::new(),
    }
}

/// The registration of `user` with `referrer`'s code, rewarded by `policy`.
pub fn referred_registration(
    mut user: UserRecord,
    referrer: &UserRecord,
    policy: RewardPolicy,
) -> NewUser {
    user.referred_by = Some(referrer.id);
    let referral = NewReferral {
        referrer: referrer.id,
        second_tier_referrer: referrer.referred_by,
        rewards: policy.entries(referrer.id, user.id, referrer.referred_by, user.created_at),
    };
    NewUser {
        referral: Some(referral),
        ..registration(user)
    }
}

/// Registers `count` users referred by `referrer` (default rewards), the first joining at
/// `first_joined` and each next one `spacing` later, 16 registrations in flight at a time.
pub async fn seed_referrals(
    storage: Arc<dyn Storage>,
    referrer: &UserRecord,
    count: usize,
    first_joined: OffsetDateTime,
    spacing: Duration,
) -> Result<(), StorageError> {
    let mut in_flight = JoinSet::new();
    for i in 0..count {
        let joined = first_joined + spacing * i as u32;
        let id = Uuid::now_v7();
        let email = Email::parse(&format!("seed-{}@example.com", id.simple()))
            .map_err(|e| StorageError::backend(e.to_string()))?;
        let user = UserRecord {
            id,
            ..user_record(email, unusable_hash(), joined)
        };
        let new = referred_registration(user, referrer, RewardPolicy::default());
        let storage = storage.clone();
        in_flight.spawn(async move { storage.create_user(new).await });
        if in_flight.len() >= 16 {
            if let Some(done) = in_flight.join_next().await {
                done.map_err(|e| StorageError::backend(e.to_string()))??;
            }
        }
    }
    while let Some(done) = in_flight.join_next().await {
        done.map_err(|e| StorageError::backend(e.to_string()))??;
    }
    Ok(())
}
