//! The HTTP side every provider shares: one client (timeouts, no redirects, a `User-Agent`),
//! the exchange, and how an answer becomes success or a [`MailError`] that says whether a
//! retry can help.

use std::error::Error as StdError;
use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, ACCEPT, DATE, RETRY_AFTER};
use reqwest::{redirect, Client, RequestBuilder, Response, StatusCode};
use time::format_description::well_known::Rfc2822;
use time::OffsetDateTime;

use crate::error::Error;
use crate::mailer::MailError;

/// The longest `Retry-After` honoured; a longer one (a daily quota, a broken server) is cut to
/// this, so a message is tried again at least daily.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// Some providers (Resend) refuse requests without a `User-Agent`.
const USER_AGENT: &str = concat!("referral/", env!("CARGO_PKG_VERSION"));

/// How much of an answer's body is read: enough for any error document, not a flood.
const MAX_BODY_BYTES: usize = 16 * 1024;

/// How much of a provider's reason is kept in the error (and so in the outbox).
const MAX_REASON_CHARS: usize = 300;

/// The client all sends of one mailer share (connections are pooled): whole-request and
/// connect timeouts of `timeout`, and redirects not followed, since a redirected POST would
/// silently turn into a GET.
pub(super) fn client(timeout: Duration) -> Result<Client, Error> {
    Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(redirect::Policy::none())
        .user_agent(USER_AGENT)
        .build()
        .map_err(|error| Error::Config(format!("cannot set up the HTTP client for mail: {error}")))
}

/// A provider's answer, read: status, requested delay, and the start of the body.
pub(super) struct Answer {
    status: StatusCode,
    retry_after: Option<Duration>,
    body: Vec<u8>,
}

/// Sends `request` (asking for JSON back) and reads the answer. A request that never got an
/// answer is [`MailError::Unavailable`]: it may not have reached the provider at all.
pub(super) async fn exchange(
    provider: &str,
    timeout: Duration,
    request: RequestBuilder,
) -> Result<Answer, MailError> {
    let response = request
        .header(ACCEPT, "application/json")
        .send()
        .await
        .map_err(|error| unanswered(provider, timeout, &error))?;
    let status = response.status();
    let retry_after = retry_after(response.headers(), SystemTime::now());
    // The status alone decides; a body cut short by the timeout only costs the reason.
    let body = read_body(response).await;
    Ok(Answer {
        status,
        retry_after,
        body,
    })
}

impl Answer {
    /// Success for a 2xx (the provider has taken the message); otherwise the error
    /// [`classify`] gives, with the reason `reason` finds in the provider's error body, or the
    /// body itself.
    pub(super) fn outcome(
        self,
        provider: &str,
        reason: fn(&[u8]) -> Option<String>,
    ) -> Result<(), MailError> {
        if self.status.is_success() {
            return Ok(());
        }
        let said =
            reason(&self.body).unwrap_or_else(|| String::from_utf8_lossy(&self.body).into_owned());
        let said = tidy(&said);
        let reason = if said.is_empty() {
            format!("{provider} answered {}", self.status)
        } else {
            format!("{provider} answered {}: {said}", self.status)
        };
        Err(classify(self.status, self.retry_after, reason))
    }
}

/// Transient: 408, 429 and 5xx, [`MailError::Throttled`] when a 429 or 503 says when to come
/// back; permanent: every other 4xx (the provider says the request itself is wrong);
/// transient again: anything else unexpected (1xx, a redirect), which points at the
/// endpoint, not at the message.
fn classify(status: StatusCode, retry_after: Option<Duration>, reason: String) -> MailError {
    match (status.as_u16(), retry_after) {
        (429 | 503, Some(retry_after)) => MailError::Throttled {
            reason,
            retry_after,
        },
        (408 | 429, _) | (500..=599, _) => MailError::Unavailable(reason),
        (400..=499, _) => MailError::Rejected(reason),
        _ => MailError::Unavailable(reason),
    }
}

/// `Retry-After` as delay-seconds or as an HTTP date (counted from the answer's `Date`, so
/// the two clocks need not agree), at most [`MAX_RETRY_AFTER`]; `None` when absent or
/// unreadable.
fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let delay = match text.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => {
            let at = http_date(text)?;
            let now = headers
                .get(DATE)
                .and_then(|date| date.to_str().ok())
                .and_then(http_date)
                .unwrap_or_else(|| OffsetDateTime::from(now));
            Duration::try_from(at - now).unwrap_or(Duration::ZERO)
        }
    };
    Some(delay.min(MAX_RETRY_AFTER))
}

/// An HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`), which is RFC 2822's format.
fn http_date(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text.trim(), &Rfc2822).ok()
}

/// Up to [`MAX_BODY_BYTES`] of the body; whatever arrived when reading fails.
async fn read_body(mut response: Response) -> Vec<u8> {
    let mut body = Vec::new();
    while body.len() < MAX_BODY_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    body.truncate(MAX_BODY_BYTES);
    body
}

/// Why no answer came: a timeout, or the error and its causes ("connection refused").
fn unanswered(provider: &str, timeout: Duration, error: &reqwest::Error) -> MailError {
    if error.is_timeout() {
        return MailError::Unavailable(format!(
            "{provider} did not answer within {} ms",
            timeout.as_millis()
        ));
    }
    let mut reason = format!("{provider} could not be reached: {error}");
    let mut source = error.source();
    while let Some(cause) = source {
        reason.push_str(": ");
        reason.push_str(&cause.to_string());
        source = cause.source();
    }
    MailError::Unavailable(tidy(&reason))
}

/// One line of at most [`MAX_REASON_CHARS`] characters, control characters as spaces.
fn tidy(text: &str) -> String {
    let line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let line = line.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(MAX_REASON_CHARS) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line,
    }
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    fn headers(pairs: &[(reqwest::header::HeaderName, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(name.clone(), HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn status(code: u16) -> StatusCode {
        StatusCode::from_u16(code).unwrap()
    }

    #[test]
    fn request_errors_are_permanent_and_server_trouble_is_transient() {
        for code in [400, 401, 403, 404, 413, 422] {
            let error = classify(status(code), None, "no".into());
            assert!(error.is_permanent(), "{code}: {error:?}");
        }
        for code in [408, 429, 500, 502, 503, 504, 302, 101] {
            let error = classify(status(code), None, "later".into());
            assert!(
                matches!(error, MailError::Unavailable(_)),
                "{code}: {error:?}"
            );
        }
    }

    #[test]
    fn a_429_or_503_with_retry_after_is_throttled_with_that_delay() {
        let delay = Some(Duration::from_secs(7));
        for code in [429, 503] {
            let error = classify(status(code), delay, "busy".into());
            assert_eq!(error.retry_after(), delay, "{code}");
            assert!(!error.is_permanent());
        }
        // Retry-After on other answers changes nothing.
        assert!(classify(status(500), delay, "x".into())
            .retry_after()
            .is_none());
        assert!(classify(status(400), delay, "x".into()).is_permanent());
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(
            retry_after(&headers(&[(RETRY_AFTER, "120")]), now),
            Some(Duration::from_secs(120))
        );
        // 784111777 is Sun, 06 Nov 1994 08:49:37 GMT.
        let date = headers(&[(RETRY_AFTER, "Sun, 06 Nov 1994 08:50:07 GMT")]);
        assert_eq!(retry_after(&date, now), Some(Duration::from_secs(30)));
        let with_server_clock = headers(&[
            (RETRY_AFTER, "Sun, 06 Nov 1994 08:50:07 GMT"),
            (DATE, "Sun, 06 Nov 1994 08:50:00 GMT"),
        ]);
        assert_eq!(
            retry_after(&with_server_clock, now),
            Some(Duration::from_secs(7))
        );
        let past = headers(&[(RETRY_AFTER, "Sun, 06 Nov 1994 08:00:00 GMT")]);
        assert_eq!(retry_after(&past, now), Some(Duration::ZERO));
    }

    #[test]
    fn retry_after_is_capped_and_garbage_is_ignored() {
        let now = SystemTime::now();
        assert_eq!(
            retry_after(&headers(&[(RETRY_AFTER, "99999999999")]), now),
            Some(MAX_RETRY_AFTER)
        );
        for garbage in ["soon", "-5", "1.5", ""] {
            assert_eq!(
                retry_after(&headers(&[(RETRY_AFTER, garbage)]), now),
                None,
                "{garbage:?}"
            );
        }
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn reasons_are_one_bounded_line() {
        assert_eq!(tidy("  bad\r\nrequest\t here "), "bad request here");
        let long = tidy(&"é".repeat(1000));
        assert_eq!(long.chars().count(), MAX_REASON_CHARS + 1);
        assert!(long.ends_with('…'));
    }
}
