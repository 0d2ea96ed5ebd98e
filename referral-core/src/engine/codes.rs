//! Vanity codes: a user chooses the code their links carry. Earlier codes stay theirs, so
//! links already shared keep working and can never come to name someone else.

use super::{Engine, ReferralStats};
use crate::error::Error;
use crate::referral_code::ReferralCode;
use crate::storage::StorageError;
use crate::user::UserRecord;

impl Engine {
    /// Makes `code` the user's referral code and answers their statistics with it.
    ///
    /// The code is 4 to 32 characters of `A-Z a-z 0-9 _ -` (surrounding spaces trimmed),
    /// not one of the [`RESERVED_CODES`](crate::RESERVED_CODES): otherwise
    /// [`Error::Validation`] on the field `code` (`too_short`, `too_long`,
    /// `invalid_characters`, `reserved`). It is unique without case: a code anyone else holds
    /// now or held before is [`Error::CodeTaken`]. Choosing a code the user held before makes
    /// it current again (written as given now); their other codes keep working for sign-ups
    /// and clicks.
    pub async fn set_referral_code(
        &self,
        user: &UserRecord,
        code: &str,
    ) -> Result<ReferralStats, Error> {
        let code = ReferralCode::vanity(code)
            .map_err(|problem| Error::invalid("code", problem.code(), &problem.to_string()))?;
        let claimed = match self
            .inner
            .storage
            .claim_referral_code(user.id, &code, self.now())
            .await
        {
            Ok(claimed) => claimed,
            Err(StorageError::ReferralCodeTaken) => return Err(Error::CodeTaken),
            Err(error) => return Err(error.into()),
        };
        // The user was deleted between authentication and now.
        if !claimed {
            return Err(Error::Unauthorized);
        }
        let updated = UserRecord {
            referral_code: code,
            ..user.clone()
        };
        self.referral_stats(&updated).await
    }
}
