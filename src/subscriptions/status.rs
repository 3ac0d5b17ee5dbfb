//! Subscription status at a point in time.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// Length of the one-time trial.
pub const TRIAL_HOURS: i64 = 48;
/// Under this many hours left, the status carries a warning.
pub const WARNING_HOURS: i64 = 48;

/// What an account's subscription looks like at one instant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SubscriptionStatus {
    pub subscribed: bool,
    pub expires_at: Option<DateTime<Utc>>,
    /// Whole hours left (0 when not subscribed).
    pub hours_remaining: i64,
    /// Subscribed with less than 48 hours left.
    pub expiring_soon: bool,
    pub trial_used: bool,
}

impl SubscriptionStatus {
    pub fn at(expires_at: Option<DateTime<Utc>>, trial_used: bool, now: DateTime<Utc>) -> Self {
        let subscribed = expires_at.is_some_and(|e| now < e);
        let hours_remaining = match expires_at {
            Some(e) if subscribed => (e - now).num_hours(),
            _ => 0,
        };
        Self {
            subscribed,
            expires_at,
            hours_remaining,
            expiring_soon: subscribed && hours_remaining < WARNING_HOURS,
            trial_used,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn boundaries() {
        let now = Utc::now();
        let never = SubscriptionStatus::at(None, false, now);
        assert!(!never.subscribed && !never.expiring_soon && never.hours_remaining == 0);
        let expired = SubscriptionStatus::at(Some(now), false, now);
        assert!(!expired.subscribed, "expiry == now is no longer subscribed");
        let soon = SubscriptionStatus::at(Some(now + Duration::hours(47)), true, now);
        assert!(soon.subscribed && soon.expiring_soon && soon.hours_remaining == 47);
        let fine = SubscriptionStatus::at(Some(now + Duration::hours(48)), true, now);
        assert!(fine.subscribed && !fine.expiring_soon && fine.hours_remaining == 48);
    }
}
