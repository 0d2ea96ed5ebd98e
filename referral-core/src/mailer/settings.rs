//! `MailSettings`: which mailer the environment asks for (`MAIL_PROVIDER`), with its
//! settings, checked at start-up so a missing key is an error then and not a surprise at the
//! first send.

use std::sync::Arc;

#[cfg(feature = "mail-api")]
use super::{ApiMailer, ApiSettings};
use super::{LogMailer, Mailer};
#[cfg(feature = "smtp")]
use super::{SmtpMailer, SmtpSettings};
use crate::error::Error;

/// The `MAIL_PROVIDER` values that name an HTTP mail API (feature `mail-api`).
const API_PROVIDERS: [&str; 4] = ["postmark", "sendgrid", "mailgun", "resend"];

/// How mail leaves the service, as `MAIL_PROVIDER` and the variables beside it say.
///
/// ```
/// use referral_core::mailer::MailSettings;
/// let settings = MailSettings::from_lookup(&|_: &str| None)?;
/// assert_eq!(settings, MailSettings::Log);
/// # Ok::<(), referral_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MailSettings {
    /// Write each message to the log ([`LogMailer`]): development only.
    Log,
    /// Send through an SMTP server (feature `smtp`).
    #[cfg(feature = "smtp")]
    Smtp(SmtpSettings),
    /// Send through an email provider's HTTP API (feature `mail-api`).
    #[cfg(feature = "mail-api")]
    Api(ApiSettings),
}

impl MailSettings {
    /// Reads the process environment; see [`from_lookup`](Self::from_lookup).
    pub fn from_env() -> Result<Self, Error> {
        Self::from_lookup(&|name: &str| std::env::var(name).ok())
    }

    /// Reads the variables through `lookup` (empty values count as unset):
    ///
    /// - `MAIL_PROVIDER` unset: `smtp` when `MAIL_SERVER` is set, else `log`.
    /// - `log`: [`MailSettings::Log`].
    /// - `smtp`: the `MAIL_SERVER` family, read by `SmtpSettings::from_lookup`; `MAIL_SERVER`
    ///   is required.
    /// - `postmark`, `sendgrid`, `mailgun`, `resend`: `MAIL_API_KEY` (required),
    ///   `MAIL_DOMAIN` (required for Mailgun), `MAIL_API_URL`, `MAIL_FROM`, read by
    ///   `ApiSettings::from_lookup`.
    ///
    /// Errors: [`Error::Config`] naming the variable that is missing or wrong, or the feature
    /// a provider needs when this build lacks it.
    pub fn from_lookup(lookup: &impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let value = |name: &str| {
            lookup(name)
                .map(|value| value.trim().to_owned())
                .filter(|value| !value.is_empty())
        };
        let provider = value("MAIL_PROVIDER").map(|name| name.to_ascii_lowercase());
        match provider.as_deref() {
            None if value("MAIL_SERVER").is_none() => Ok(MailSettings::Log),
            Some("log") => Ok(MailSettings::Log),
            None | Some("smtp") => smtp(lookup),
            Some(name) if API_PROVIDERS.contains(&name) => api(name, lookup),
            Some(other) => Err(Error::Config(format!(
                "MAIL_PROVIDER must be one of log, smtp, {}, not {other:?}",
                API_PROVIDERS.join(", ")
            ))),
        }
    }

    /// The mailer these settings describe. Nothing is contacted until the first send.
    ///
    /// Errors: [`Error::Config`] when the settings (built in code rather than read) are
    /// invalid.
    pub fn mailer(&self) -> Result<Arc<dyn Mailer>, Error> {
        match self {
            MailSettings::Log => {
                tracing::warn!(
                    "no mail server or provider configured (MAIL_SERVER, MAIL_PROVIDER): mail is \
                     printed to the log instead of sent, reset links included (development only)"
                );
                Ok(Arc::new(LogMailer))
            }
            #[cfg(feature = "smtp")]
            MailSettings::Smtp(smtp) => {
                tracing::info!(server = %smtp.server, port = smtp.port, "sending mail through SMTP");
                Ok(Arc::new(SmtpMailer::new(smtp.clone())?))
            }
            #[cfg(feature = "mail-api")]
            MailSettings::Api(api) => {
                let mailer = ApiMailer::new(api.clone())?;
                if api.from == super::DEFAULT_FROM {
                    tracing::warn!(
                        provider = api.provider.name(),
                        "MAIL_FROM is not set: providers refuse mail from {}; set a sender they have verified",
                        super::DEFAULT_FROM
                    );
                }
                tracing::info!(
                    provider = api.provider.name(),
                    endpoint = mailer.endpoint(),
                    "sending mail through an HTTP API"
                );
                Ok(Arc::new(mailer))
            }
        }
    }
}

#[cfg(feature = "smtp")]
fn smtp(lookup: &impl Fn(&str) -> Option<String>) -> Result<MailSettings, Error> {
    SmtpSettings::from_lookup(lookup)?
        .map(MailSettings::Smtp)
        .ok_or_else(|| {
            Error::Config(
                "MAIL_SERVER is required when MAIL_PROVIDER=smtp: set it to the SMTP server's \
                 host name"
                    .into(),
            )
        })
}

#[cfg(not(feature = "smtp"))]
fn smtp(_lookup: &impl Fn(&str) -> Option<String>) -> Result<MailSettings, Error> {
    Err(Error::Config(
        "MAIL_SERVER or MAIL_PROVIDER=smtp asks for SMTP, but this build has no SMTP support: \
         enable the `smtp` feature of referral (or referral-core)"
            .into(),
    ))
}

#[cfg(feature = "mail-api")]
fn api(name: &str, lookup: &impl Fn(&str) -> Option<String>) -> Result<MailSettings, Error> {
    ApiSettings::from_lookup(name, lookup).map(MailSettings::Api)
}

#[cfg(not(feature = "mail-api"))]
fn api(name: &str, _lookup: &impl Fn(&str) -> Option<String>) -> Result<MailSettings, Error> {
    Err(Error::Config(format!(
        "MAIL_PROVIDER={name} needs the `mail-api` feature of referral (or referral-core), \
         which this build does not have"
    )))
}

/// What the mail settings tests share: variables to read, and the error they expect.
#[cfg(test)]
pub(crate) mod test_variables {
    use std::collections::HashMap;
    use std::fmt::Debug;

    use crate::error::Error;

    /// A `lookup` over `vars`, as `from_lookup` takes it.
    pub(crate) fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        move |name| vars.get(name).cloned()
    }

    /// The message of the [`Error::Config`] in `result`.
    pub(crate) fn config_message<T: Debug>(result: Result<T, Error>) -> String {
        match result {
            Err(Error::Config(message)) => message,
            other => panic!("expected a configuration error, got {other:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_variables::{config_message, lookup};
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<MailSettings, Error> {
        MailSettings::from_lookup(&lookup(vars))
    }

    fn config_error(vars: &[(&str, &str)]) -> String {
        config_message(settings(vars))
    }

    #[test]
    fn nothing_set_means_the_log() {
        assert_eq!(settings(&[]).unwrap(), MailSettings::Log);
        assert_eq!(
            settings(&[("MAIL_PROVIDER", " "), ("MAIL_API_KEY", "k")]).unwrap(),
            MailSettings::Log
        );
        assert_eq!(
            settings(&[("MAIL_PROVIDER", "LOG"), ("MAIL_SERVER", "mx")]).unwrap(),
            MailSettings::Log
        );
    }

    #[test]
    fn an_unknown_provider_is_refused_with_the_choices() {
        let message = config_error(&[("MAIL_PROVIDER", "mailchimp")]);
        assert!(
            message.starts_with("MAIL_PROVIDER must be one of"),
            "{message}"
        );
        assert!(
            message.contains("postmark, sendgrid, mailgun, resend"),
            "{message}"
        );
    }

    #[cfg(feature = "smtp")]
    #[test]
    fn mail_server_without_a_provider_means_smtp() {
        let settings = settings(&[("MAIL_SERVER", "localhost"), ("MAIL_PORT", "1025")]).unwrap();
        let MailSettings::Smtp(smtp) = settings else {
            panic!("expected SMTP, got {settings:?}");
        };
        assert_eq!((smtp.server.as_str(), smtp.port), ("localhost", 1025));
    }

    #[cfg(feature = "smtp")]
    #[test]
    fn smtp_named_without_a_server_names_mail_server() {
        let message = config_error(&[("MAIL_PROVIDER", "smtp")]);
        assert!(message.starts_with("MAIL_SERVER is required"), "{message}");
        assert!(matches!(
            settings(&[("MAIL_PROVIDER", "SMTP"), ("MAIL_SERVER", "mx")]).unwrap(),
            MailSettings::Smtp(_)
        ));
    }

    #[cfg(not(feature = "smtp"))]
    #[test]
    fn mail_server_without_the_smtp_feature_is_an_error_not_the_log() {
        let message = config_error(&[("MAIL_SERVER", "localhost")]);
        assert!(message.contains("`smtp` feature"), "{message}");
    }

    #[cfg(feature = "mail-api")]
    mod api {
        use super::*;
        use crate::mailer::{ApiKey, ApiSettings, Provider, DEFAULT_FROM, DEFAULT_TIMEOUT};

        fn api(vars: &[(&str, &str)]) -> ApiSettings {
            match settings(vars) {
                Ok(MailSettings::Api(api)) => api,
                other => panic!("expected an API provider, got {other:?}"),
            }
        }

        #[test]
        fn each_provider_is_picked_by_name_with_its_key() {
            for (name, provider) in [
                ("postmark", Provider::Postmark),
                ("SendGrid", Provider::Sendgrid),
                ("resend", Provider::Resend),
            ] {
                let settings = api(&[("MAIL_PROVIDER", name), ("MAIL_API_KEY", "secret-key")]);
                assert_eq!(
                    settings,
                    ApiSettings::new(provider, ApiKey::new("secret-key")),
                    "{name}"
                );
                assert_eq!(
                    (settings.from.as_str(), settings.timeout),
                    (DEFAULT_FROM, DEFAULT_TIMEOUT)
                );
            }
            let mailgun = api(&[
                ("MAIL_PROVIDER", "mailgun"),
                ("MAIL_API_KEY", "key-1"),
                ("MAIL_DOMAIN", "mg.example.com"),
                ("MAIL_FROM", "Referral <no-reply@mg.example.com>"),
            ]);
            assert_eq!(
                mailgun.provider,
                Provider::Mailgun {
                    domain: "mg.example.com".into()
                }
            );
            assert_eq!(mailgun.from, "Referral <no-reply@mg.example.com>");
        }

        #[test]
        fn the_provider_names_here_are_the_providers_own() {
            let names: Vec<&str> = [
                Provider::Postmark,
                Provider::Sendgrid,
                Provider::Mailgun { domain: "d".into() },
                Provider::Resend,
            ]
            .iter()
            .map(Provider::name)
            .collect();
            assert_eq!(names, API_PROVIDERS);
        }

        #[test]
        fn a_provider_wins_over_mail_server() {
            let settings = api(&[
                ("MAIL_PROVIDER", "resend"),
                ("MAIL_API_KEY", "re_1"),
                ("MAIL_SERVER", "localhost"),
            ]);
            assert_eq!(settings.provider, Provider::Resend);
        }

        #[test]
        fn a_missing_key_or_domain_is_a_start_up_error_naming_the_variable() {
            for name in API_PROVIDERS {
                let message =
                    config_error(&[("MAIL_PROVIDER", name), ("MAIL_DOMAIN", "mg.example.com")]);
                assert!(
                    message.starts_with("MAIL_API_KEY is required"),
                    "{name}: {message}"
                );
            }
            let message = config_error(&[("MAIL_PROVIDER", "mailgun"), ("MAIL_API_KEY", "k")]);
            assert!(message.starts_with("MAIL_DOMAIN is required"), "{message}");
        }

        #[test]
        fn mail_api_url_replaces_the_host_and_keeps_the_documented_path() {
            let settings = api(&[
                ("MAIL_PROVIDER", "postmark"),
                ("MAIL_API_KEY", "k"),
                ("MAIL_API_URL", "http://127.0.0.1:9999"),
            ]);
            assert_eq!(settings.base_url.as_deref(), Some("http://127.0.0.1:9999"));
            assert_eq!(settings.endpoint().unwrap(), "http://127.0.0.1:9999/email");
            let eu = api(&[
                ("MAIL_PROVIDER", "mailgun"),
                ("MAIL_API_KEY", "k"),
                ("MAIL_DOMAIN", "mg.example.com"),
                ("MAIL_API_URL", "https://api.eu.mailgun.net/"),
            ]);
            assert_eq!(
                eu.endpoint().unwrap(),
                "https://api.eu.mailgun.net/v3/mg.example.com/messages"
            );
        }

        #[test]
        fn the_mailer_is_built_from_the_settings() {
            let settings =
                settings(&[("MAIL_PROVIDER", "sendgrid"), ("MAIL_API_KEY", "SG.k")]).unwrap();
            assert!(settings.mailer().is_ok());
            assert!(!format!("{settings:?}").contains("SG.k"));
        }
    }
}
