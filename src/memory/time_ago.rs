//! The original's human wording of how long ago something happened.

use chrono::{DateTime, Datelike, Utc};

/// `< 1 h` "a few minutes ago"; `< 1 d` "earlier today"; `< 2 d` "yesterday";
/// `< 7 d` "a few days ago"; `< 30 d` "a couple of weeks ago"; `< 365 d`
/// "back in {Month}"; otherwise "over a year ago". Future times count as now.
pub fn time_ago(then: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let age = now.signed_duration_since(then);
    let hours = age.num_seconds() as f64 / 3600.0;
    let days = hours / 24.0;
    if hours < 1.0 {
        "a few minutes ago".into()
    } else if days < 1.0 {
        "earlier today".into()
    } else if days < 2.0 {
        "yesterday".into()
    } else if days < 7.0 {
        "a few days ago".into()
    } else if days < 30.0 {
        "a couple of weeks ago".into()
    } else if days < 365.0 {
        format!("back in {}", month_name(then.month()))
    } else {
        "over a year ago".into()
    }
}

fn month_name(month: u32) -> &'static str {
    const NAMES: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    NAMES[(month.clamp(1, 12) - 1) as usize]
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    #[test]
    fn boundaries() {
        let now = Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap();
        let ago = |d: Duration| time_ago(now - d, now);
        assert_eq!(ago(Duration::zero()), "a few minutes ago");
        assert_eq!(ago(-Duration::hours(3)), "a few minutes ago");
        assert_eq!(ago(Duration::minutes(59)), "a few minutes ago");
        assert_eq!(ago(Duration::hours(1)), "earlier today");
        assert_eq!(ago(Duration::hours(23)), "earlier today");
        assert_eq!(ago(Duration::hours(24)), "yesterday");
        assert_eq!(ago(Duration::hours(47)), "yesterday");
        assert_eq!(ago(Duration::days(2)), "a few days ago");
        assert_eq!(ago(Duration::days(6)), "a few days ago");
        assert_eq!(ago(Duration::days(7)), "a couple of weeks ago");
        assert_eq!(ago(Duration::days(29)), "a couple of weeks ago");
        assert_eq!(ago(Duration::days(30)), "back in October");
        assert_eq!(ago(Duration::days(364)), "back in November");
        assert_eq!(ago(Duration::days(365)), "over a year ago");
    }
}
