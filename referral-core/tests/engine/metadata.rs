//! Metadata: the app's JSON object about a user, set at sign-up and replaced by the user,
//! capped at 4 KiB and checked by the app's validator; bad metadata writes nothing.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use referral_core::{
    Engine, Error, MemoryStorage, MetadataError, NewAccount, RecordingMailer, Storage,
    MAX_METADATA_BYTES,
};

use crate::harness::{config, Harness, PASSWORD};

fn object(value: Value) -> Map<String, Value> {
    serde_json::from_value(value).expect("a JSON object")
}

/// Refuses a `handle` that is not lowercase text of 3 to 20 characters, and any key
/// starting with `_`.
fn handle_rules(metadata: &Map<String, Value>) -> Result<(), Vec<MetadataError>> {
    let mut errors = Vec::new();
    if let Some(handle) = metadata.get("handle") {
        let fine = handle.as_str().is_some_and(|text| {
            (3..=20).contains(&text.len()) && text.chars().all(|c| c.is_ascii_lowercase())
        });
        if !fine {
            errors.push(MetadataError::new(
                "handle",
                "invalid_handle",
                "handle must be 3 to 20 lowercase letters",
            ));
        }
    }
    for key in metadata.keys().filter(|key| key.starts_with('_')) {
        errors.push(MetadataError::new(
            key.clone(),
            "reserved",
            "keys starting with _ are the app's",
        ));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

fn validated_engine(storage: &MemoryStorage) -> Engine {
    Engine::builder(config().build().unwrap())
        .storage(Arc::new(storage.clone()))
        .mailer(Arc::new(RecordingMailer::new()))
        .metadata_validator(Arc::new(handle_rules))
        .build()
        .unwrap()
}

/// Registers jane@example.com with `metadata`.
async fn register_jane(
    engine: &Engine,
    metadata: Value,
) -> Result<referral_core::Registered, Error> {
    engine
        .register(NewAccount::new("jane@example.com", PASSWORD).metadata(object(metadata)))
        .await
}

fn fields(error: &Error) -> Vec<(String, String)> {
    match error {
        Error::Validation(errors) => errors
            .iter()
            .map(|e| (e.field.clone(), e.code.clone()))
            .collect(),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

#[tokio::test]
async fn metadata_given_at_sign_up_is_kept_and_shown_and_defaults_to_an_empty_object() {
    let h = Harness::new();
    let plain = h.register("plain@example.com").await;
    assert_eq!(plain.user.metadata, Map::new());
    let given = json!({ "handle": "jane", "links": ["https://example.com"] });
    let metadata = object(given.clone());
    let jane = register_jane(&h.engine, given).await.unwrap();
    assert_eq!(jane.user.metadata, metadata);
    assert_eq!(h.storage_user(jane.user.id).await.metadata, metadata);
    let me = h
        .engine
        .authenticate(&jane.tokens.access_token)
        .await
        .unwrap();
    assert_eq!(h.engine.user_view(&me).metadata, metadata);
}

#[tokio::test]
async fn oversized_metadata_is_refused_with_the_other_field_errors_and_nothing_is_stored() {
    let h = Harness::new();
    let big = object(json!({ "bio": "x".repeat(MAX_METADATA_BYTES) }));
    let error = h
        .engine
        .register(NewAccount::new("nope", PASSWORD).metadata(big.clone()))
        .await
        .unwrap_err();
    assert_eq!(
        fields(&error),
        [
            ("email".to_owned(), "invalid_email".to_owned()),
            ("metadata".to_owned(), "too_large".to_owned())
        ]
    );
    let error = register_jane(&h.engine, Value::Object(big))
        .await
        .unwrap_err();
    assert_eq!(
        fields(&error),
        [("metadata".to_owned(), "too_large".to_owned())]
    );
    assert_eq!(h.stored_user("jane@example.com").await, None);
    // The address is still free.
    h.register("jane@example.com").await;
}

#[tokio::test]
async fn the_apps_validator_names_each_refused_key_at_sign_up_and_nothing_is_stored() {
    let storage = MemoryStorage::new();
    let engine = validated_engine(&storage);
    let error = register_jane(
        &engine,
        json!({ "handle": "J@ne", "_admin": true, "bio": "hi" }),
    )
    .await
    .unwrap_err();
    assert_eq!(
        fields(&error),
        [
            ("metadata.handle".to_owned(), "invalid_handle".to_owned()),
            ("metadata._admin".to_owned(), "reserved".to_owned())
        ]
    );
    let email = "jane@example.com".parse().unwrap();
    assert_eq!(storage.user_by_email(&email).await.unwrap(), None);
    let jane = register_jane(&engine, json!({ "handle": "jane" }))
        .await
        .unwrap();
    assert_eq!(jane.user.metadata["handle"], "jane");
}

#[tokio::test]
async fn an_update_replaces_the_metadata_and_queues_one_event_an_equal_one_queues_none() {
    let h = Harness::new();
    let jane = h.register("jane@example.com").await;
    let me = h.storage_user(jane.user.id).await;
    let queued = h.storage.pending_outbox().await.unwrap();
    let first = object(json!({ "handle": "jane", "theme": "dark" }));
    let after = h.engine.update_metadata(&me, first.clone()).await.unwrap();
    assert_eq!(after.metadata, first);
    assert_eq!(h.storage_user(jane.user.id).await.metadata, first);
    assert_eq!(h.storage.pending_outbox().await.unwrap(), queued + 1);
    // Replacing, not merging: `theme` goes.
    let second = object(json!({ "handle": "janet" }));
    let after = h
        .engine
        .update_metadata(&after, second.clone())
        .await
        .unwrap();
    assert_eq!(h.storage_user(jane.user.id).await.metadata, second);
    assert_eq!(h.storage.pending_outbox().await.unwrap(), queued + 2);
    // The same again: nothing written, no event.
    h.engine
        .update_metadata(&after, second.clone())
        .await
        .unwrap();
    assert_eq!(h.storage.pending_outbox().await.unwrap(), queued + 2);
    // Nothing else about the user changed: the session goes on.
    let me = h
        .engine
        .authenticate(&jane.tokens.access_token)
        .await
        .unwrap();
    assert_eq!(me.metadata, second, "the cached user was invalidated");
    assert_eq!(me.token_version, 0);
}

#[tokio::test]
async fn a_refused_update_writes_nothing() {
    let storage = MemoryStorage::new();
    let engine = validated_engine(&storage);
    let jane = register_jane(&engine, json!({ "handle": "jane" }))
        .await
        .unwrap();
    let me = storage.user_by_id(jane.user.id).await.unwrap().unwrap();
    let queued = storage.pending_outbox().await.unwrap();
    let error = engine
        .update_metadata(&me, object(json!({ "handle": "JANE!" })))
        .await
        .unwrap_err();
    assert_eq!(
        fields(&error),
        [("metadata.handle".to_owned(), "invalid_handle".to_owned())]
    );
    let error = engine
        .update_metadata(
            &me,
            object(json!({ "bio": "x".repeat(MAX_METADATA_BYTES) })),
        )
        .await
        .unwrap_err();
    assert_eq!(
        fields(&error),
        [("metadata".to_owned(), "too_large".to_owned())]
    );
    assert_eq!(
        storage
            .user_by_id(jane.user.id)
            .await
            .unwrap()
            .unwrap()
            .metadata,
        object(json!({ "handle": "jane" }))
    );
    assert_eq!(storage.pending_outbox().await.unwrap(), queued);
}

#[tokio::test]
async fn updating_an_erased_users_metadata_is_user_not_found() {
    let h = Harness::new();
    let jane = h.register("jane@example.com").await;
    let me = h.storage_user(jane.user.id).await;
    h.engine.erase_user(jane.user.id, None).await.unwrap();
    let error = h
        .engine
        .update_metadata(&me, object(json!({ "handle": "ghost" })))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::UserNotFound), "{error:?}");
}
