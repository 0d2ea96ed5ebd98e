//! The app's own data about a user (`metadata`): a JSON object of at most
//! [`MAX_METADATA_BYTES`] serialised, stored with the account, set at sign-up and replaced by
//! the user, checked first by these rules and then by the app's [`MetadataValidator`].

use serde_json::{Map, Value};

use crate::error::{Error, FieldError};

/// The most a user's metadata may take, serialised as compact JSON: 4 KiB.
pub const MAX_METADATA_BYTES: usize = 4096;

/// One key of metadata the app's [`MetadataValidator`] refuses: answered as a field error
/// `metadata.<key>` of a `422 validation_failed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataError {
    /// The key refused (`handle`); empty for the object as a whole (the field is then
    /// `metadata`).
    pub key: String,
    /// A stable snake_case code (`taken`, `too_long`, …).
    pub code: String,
    /// A sentence the user can act on.
    pub message: String,
}

impl MetadataError {
    /// `key` is refused with `code` and `message`.
    pub fn new(
        key: impl Into<String>,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        MetadataError {
            key: key.into(),
            code: code.into(),
            message: message.into(),
        }
    }

    /// As the field error of a `validation_failed` problem.
    fn into_field_error(self) -> FieldError {
        let field = if self.key.is_empty() {
            "metadata".to_owned()
        } else {
            format!("metadata.{}", self.key)
        };
        FieldError {
            field,
            code: self.code,
            message: self.message,
        }
    }
}

/// The app's check of metadata, run on every sign-up and every change after the engine's
/// own rules (an object, at most [`MAX_METADATA_BYTES`]) hold; set with
/// [`EngineBuilder::metadata_validator`](crate::EngineBuilder::metadata_validator).
///
/// A closure taking the object serves:
///
/// ```
/// use referral_core::MetadataError;
/// let validator = |metadata: &serde_json::Map<String, serde_json::Value>| {
///     match metadata.get("handle") {
///         Some(serde_json::Value::String(handle)) if handle.len() <= 30 => Ok(()),
///         None => Ok(()),
///         Some(_) => Err(vec![MetadataError::new(
///             "handle",
///             "invalid_handle",
///             "handle must be text of at most 30 characters",
///         )]),
///     }
/// };
/// # let _: &dyn referral_core::MetadataValidator = &validator;
/// ```
pub trait MetadataValidator: Send + Sync + 'static {
    /// `Ok` to accept `metadata`, or every key refused.
    fn validate(&self, metadata: &Map<String, Value>) -> Result<(), Vec<MetadataError>>;
}

impl<F> MetadataValidator for F
where
    F: Fn(&Map<String, Value>) -> Result<(), Vec<MetadataError>> + Send + Sync + 'static,
{
    fn validate(&self, metadata: &Map<String, Value>) -> Result<(), Vec<MetadataError>> {
        self(metadata)
    }
}

/// `value` as metadata: a JSON object, or the `422` to answer (field `metadata`,
/// `not_an_object`).
pub(crate) fn object(value: Value) -> Result<Map<String, Value>, Error> {
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(Error::invalid(
            "metadata",
            "not_an_object",
            "metadata must be a JSON object",
        )),
    }
}

/// Checks `metadata` against the engine's size rule, then `validator`'s: every problem as a
/// field error.
pub(crate) fn check(
    metadata: &Map<String, Value>,
    validator: Option<&dyn MetadataValidator>,
) -> Result<(), Vec<FieldError>> {
    // Serialising a map of JSON values cannot fail (every key is a string); treat the
    // impossible as too large rather than panic.
    let size = serde_json::to_vec(metadata).map_or(usize::MAX, |bytes| bytes.len());
    if size > MAX_METADATA_BYTES {
        return Err(vec![FieldError::new(
            "metadata",
            "too_large",
            &format!("metadata must be at most {MAX_METADATA_BYTES} bytes as JSON; this is {size}"),
        )]);
    }
    match validator.map(|validator| validator.validate(metadata)) {
        None | Some(Ok(())) => Ok(()),
        Some(Err(errors)) if errors.is_empty() => Err(vec![FieldError::new(
            "metadata",
            "invalid_metadata",
            "metadata was refused",
        )]),
        Some(Err(errors)) => Err(errors
            .into_iter()
            .map(MetadataError::into_field_error)
            .collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(value: Value) -> Map<String, Value> {
        object(value).unwrap()
    }

    #[test]
    fn only_objects_are_metadata() {
        for value in [json!(null), json!([1]), json!("x"), json!(3), json!(true)] {
            let Error::Validation(errors) = object(value).unwrap_err() else {
                panic!("a validation error")
            };
            let error = &errors[0];
            assert_eq!(
                (error.field.as_str(), error.code.as_str()),
                ("metadata", "not_an_object")
            );
        }
        assert!(object(json!({})).unwrap().is_empty());
    }

    #[test]
    fn four_kib_is_the_cap_on_the_serialised_object() {
        // `{"k":"…"}` is 8 bytes around the value.
        let fits = map(json!({ "k": "a".repeat(MAX_METADATA_BYTES - 8) }));
        assert_eq!(serde_json::to_vec(&fits).unwrap().len(), MAX_METADATA_BYTES);
        assert!(check(&fits, None).is_ok());
        let over = map(json!({ "k": "a".repeat(MAX_METADATA_BYTES - 7) }));
        let errors = check(&over, None).unwrap_err();
        assert_eq!(errors[0].field, "metadata");
        assert_eq!(errors[0].code, "too_large");
    }

    #[test]
    fn the_validator_names_each_refused_key() {
        let validator = |metadata: &Map<String, Value>| {
            let mut errors = Vec::new();
            for key in metadata.keys().filter(|key| key.starts_with('_')) {
                errors.push(MetadataError::new(key.clone(), "reserved", "no leading _"));
            }
            if errors.is_empty() {
                Ok(())
            } else {
                Err(errors)
            }
        };
        assert!(check(&map(json!({ "handle": "jane" })), Some(&validator)).is_ok());
        let errors =
            check(&map(json!({ "_a": 1, "_b": 2, "c": 3 })), Some(&validator)).unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["metadata._a", "metadata._b"]);
        assert!(errors.iter().all(|e| e.code == "reserved"));
    }

    #[test]
    fn a_refusal_without_keys_names_the_object() {
        let validator = |_: &Map<String, Value>| Err(Vec::new());
        let errors = check(&Map::new(), Some(&validator)).unwrap_err();
        assert_eq!(errors[0].field, "metadata");
        let whole = |_: &Map<String, Value>| Err(vec![MetadataError::new("", "nope", "no")]);
        assert_eq!(
            check(&Map::new(), Some(&whole)).unwrap_err()[0].field,
            "metadata"
        );
    }

    #[test]
    fn the_size_rule_runs_before_the_validator() {
        let validator = |_: &Map<String, Value>| -> Result<(), Vec<MetadataError>> {
            panic!("the validator must not see oversized metadata")
        };
        let over = map(json!({ "k": "a".repeat(MAX_METADATA_BYTES) }));
        assert_eq!(
            check(&over, Some(&validator)).unwrap_err()[0].code,
            "too_large"
        );
    }
}
