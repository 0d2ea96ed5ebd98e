//! Referral codes: the code a user chooses, the earlier codes that stay theirs, and the
//! codes nobody else can ever take.

use std::sync::Arc;

use time::Duration;
use tokio::task::JoinSet;

use crate::referral_code::ReferralCode;
use crate::storage::{Storage, StorageError};
use crate::testing::fixtures::registration;
use crate::user::UserRecord;

use super::setup::*;

fn code(text: &str) -> ReferralCode {
    ReferralCode::parse(text).expect("test codes are well-formed")
}

async fn claim(storage: &dyn Storage, user: &UserRecord, text: &str) -> Result<bool, StorageError> {
    storage.claim_referral_code(user.id, &code(text), T0).await
}

async fn owner_of(storage: &dyn Storage, text: &str) -> Option<UserRecord> {
    storage
        .user_by_referral_code(&code(text))
        .await
        .expect("looking a code up")
}

/// A claimed code becomes the user's current code, written as claimed; the code they signed
/// up with still finds them.
pub async fn a_claimed_code_becomes_current_and_the_earlier_one_stays_an_alias(
    storage: &dyn Storage,
) {
    let ada = register(storage, "ada", T0).await.user;
    assert!(claim(storage, &ada, "Ada_Lovelace").await.unwrap());
    let stored = storage.user_by_id(ada.id).await.unwrap().unwrap();
    assert_eq!(stored.referral_code.as_str(), "Ada_Lovelace");
    for alias in [ada.referral_code.as_str(), "ada_lovelace", "ADA_LOVELACE"] {
        assert_eq!(
            owner_of(storage, alias).await,
            Some(stored.clone()),
            "{alias}"
        );
    }
}

/// A code someone holds, current or earlier, cannot be claimed by anyone else in any case,
/// and the refused claim changes nothing.
pub async fn a_code_someone_holds_cannot_be_claimed_by_another_in_any_case(storage: &dyn Storage) {
    let ada = register(storage, "ada", T0).await.user;
    let bob = register(storage, "bob", T0).await.user;
    assert!(claim(storage, &ada, "Ada-1").await.unwrap());
    assert!(claim(storage, &ada, "Ada-2").await.unwrap());
    for taken in ["ada-1", "ADA-2", ada.referral_code.as_str()] {
        assert!(
            matches!(
                claim(storage, &bob, taken).await,
                Err(StorageError::ReferralCodeTaken)
            ),
            "{taken}"
        );
    }
    assert_eq!(storage.user_by_id(bob.id).await.unwrap(), Some(bob.clone()));
    assert_eq!(owner_of(storage, "ada-1").await.map(|u| u.id), Some(ada.id));
    assert_eq!(
        owner_of(storage, bob.referral_code.as_str()).await,
        Some(bob)
    );
}

/// Claiming a code the user held before makes it current again, written as claimed now.
pub async fn claiming_an_earlier_code_again_makes_it_current(storage: &dyn Storage) {
    let ada = register(storage, "ada", T0).await.user;
    assert!(claim(storage, &ada, "first").await.unwrap());
    assert!(claim(storage, &ada, "second").await.unwrap());
    assert!(claim(storage, &ada, "FIRST").await.unwrap());
    let stored = storage.user_by_id(ada.id).await.unwrap().unwrap();
    assert_eq!(stored.referral_code.as_str(), "FIRST");
    assert_eq!(
        owner_of(storage, "second").await.map(|u| u.id),
        Some(ada.id)
    );
    let original = ada.referral_code.to_string();
    assert!(claim(storage, &ada, &original).await.unwrap());
    assert_eq!(
        storage
            .user_by_id(ada.id)
            .await
            .unwrap()
            .unwrap()
            .referral_code,
        ada.referral_code
    );
}

/// A claim for a user that does not exist answers `false` and leaves the code free.
pub async fn a_claim_for_an_unknown_user_changes_nothing(storage: &dyn Storage) {
    let ghost = user("ghost", T0);
    assert!(!claim(storage, &ghost, "Ghostly").await.unwrap());
    assert_eq!(owner_of(storage, "ghostly").await, None);
    let ada = register(storage, "ada", T0).await.user;
    assert!(claim(storage, &ada, "Ghostly").await.unwrap());
}

/// A new user whose code someone holds (in another case, even as an earlier code) is
/// refused with `ReferralCodeTaken`, writing nothing.
pub async fn registering_with_a_code_someone_holds_fails(storage: &dyn Storage) {
    let ada = register(storage, "ada", T0).await.user;
    let original = ada.referral_code.clone();
    assert!(claim(storage, &ada, "Abcd1234").await.unwrap());
    for held in [code("ABCD1234"), code(&original.key())] {
        let mut newcomer = user("newcomer", at(Duration::seconds(1)));
        newcomer.referral_code = held.clone();
        let result = storage.create_user(registration(newcomer.clone())).await;
        assert!(
            matches!(result, Err(StorageError::ReferralCodeTaken)),
            "{held}: {result:?}"
        );
        assert_eq!(storage.user_by_id(newcomer.id).await.unwrap(), None);
        assert_eq!(storage.user_by_email(&newcomer.email).await.unwrap(), None);
    }
    assert_eq!(
        owner_of(storage, "abcd1234").await.map(|u| u.id),
        Some(ada.id)
    );
}

/// Of many users claiming one free code at once, exactly one gets it; every other claim is
/// `ReferralCodeTaken` and leaves its user's code as it was.
pub async fn concurrent_claims_of_one_code_have_exactly_one_winner(storage: Arc<dyn Storage>) {
    const CLAIMANTS: usize = 12;
    let mut users = Vec::new();
    for i in 0..CLAIMANTS {
        users.push(register(&*storage, &format!("claimant{i}"), T0).await.user);
    }
    let mut set = JoinSet::new();
    for (i, user) in users.iter().enumerate() {
        let storage = Arc::clone(&storage);
        let id = user.id;
        // Each writes the code its own way: the key, not the writing, decides.
        let wanted = if i % 2 == 0 {
            "RaceWinner"
        } else {
            "racewinner"
        };
        set.spawn(async move {
            let result = storage.claim_referral_code(id, &code(wanted), T0).await;
            (id, result)
        });
    }
    let results = join_all(set).await;
    let winners: Vec<_> = results
        .iter()
        .filter(|(_, result)| matches!(result, Ok(true)))
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    assert!(results.iter().all(|(id, result)| winners.contains(id)
        || matches!(result, Err(StorageError::ReferralCodeTaken))));
    assert_eq!(
        owner_of(&*storage, "RACEWINNER").await.map(|u| u.id),
        Some(winners[0])
    );
    for user in &users {
        let stored = storage.user_by_id(user.id).await.unwrap().unwrap();
        if user.id != winners[0] {
            assert_eq!(stored.referral_code.as_str(), user.referral_code.as_str());
        }
    }
}
