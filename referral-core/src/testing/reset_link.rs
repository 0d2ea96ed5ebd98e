//! Reading a mailed link the way the person it was sent to would: the token is whatever
//! follows `{APP_BASE_URL}/reset-password?token=` (or `/verify-email?token=`).

/// The token of the first `{app_base_url}/reset-password?token=…` link in `body` (a text or
/// HTML body), or `None` when `body` carries no such link.
///
/// ```
/// use referral_core::testing::reset_token_in;
/// let body = "Open https://app.example.com/reset-password?token=abc_DEF-123 to continue.";
/// assert_eq!(
///     reset_token_in(body, "https://app.example.com").as_deref(),
///     Some("abc_DEF-123")
/// );
/// assert_eq!(reset_token_in(body, "https://other.example.com"), None);
/// ```
pub fn reset_token_in(body: &str, app_base_url: &str) -> Option<String> {
    token_after(body, &format!("{app_base_url}/reset-password?token="))
}

/// The token of the first `{app_base_url}/verify-email?token=…` link in `body`, or `None`.
///
/// ```
/// use referral_core::testing::verification_token_in;
/// let body = "Open https://app.example.com/verify-email?token=abc_DEF-123 to continue.";
/// assert_eq!(
///     verification_token_in(body, "https://app.example.com").as_deref(),
///     Some("abc_DEF-123")
/// );
/// ```
pub fn verification_token_in(body: &str, app_base_url: &str) -> Option<String> {
    token_after(body, &format!("{app_base_url}/verify-email?token="))
}

fn token_after(body: &str, marker: &str) -> Option<String> {
    let start = body.find(marker)? + marker.len();
    let token: String = body[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        .collect();
    (!token.is_empty()).then_some(token)
}
