//! Exact decimal amounts (balances, prices) stored as NUMERIC on Postgres and as
//! canonical decimal text on SQLite (which has no exact decimal type). Both
//! backends read them back as text with the column's scale, so values compare
//! equal across backends.

use rust_decimal::Decimal;

/// A decimal given by a caller that is not valid for its column.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct DecimalError {
    pub field: &'static str,
    pub message: String,
}

/// Parse `raw`, refusing more than `scale` fractional digits or more than
/// `precision` digits in all, and return it with exactly `scale` digits.
pub fn parse(
    field: &'static str,
    raw: &str,
    precision: u32,
    scale: u32,
) -> Result<Decimal, DecimalError> {
    let err = |message: String| DecimalError { field, message };
    let value: Decimal = raw
        .trim()
        .parse()
        .map_err(|_| err(format!("{raw:?} is not a decimal number")))?;
    if value.scale() > scale {
        let mut rounded = value;
        rounded.rescale(scale);
        if rounded != value {
            return Err(err(format!("{raw} has more than {scale} decimal places")));
        }
    }
    let mut canonical = value;
    canonical.rescale(scale);
    let int_digits = canonical
        .trunc()
        .abs()
        .to_string()
        .trim_start_matches('0')
        .len() as u32;
    if int_digits + scale > precision {
        return Err(err(format!(
            "{raw} does not fit in {precision} digits with {scale} decimal places"
        )));
    }
    Ok(canonical)
}

/// The text stored on SQLite and compared across backends: exactly `scale` digits.
pub fn to_text(value: Decimal, scale: u32) -> String {
    let mut v = value;
    v.rescale(scale);
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_scale_and_limits() {
        assert_eq!(to_text(parse("amount", "5", 10, 2).unwrap(), 2), "5.00");
        assert_eq!(to_text(parse("amount", "5.1", 10, 2).unwrap(), 2), "5.10");
        assert_eq!(to_text(parse("amount", "5.100", 10, 2).unwrap(), 2), "5.10");
        assert!(parse("amount", "5.001", 10, 2).is_err());
        assert!(parse("amount", "123456789.00", 10, 2).is_err());
        assert!(parse("amount", "12345678.00", 10, 2).is_ok());
        let e = parse("amount", "five", 10, 2).unwrap_err();
        assert_eq!(e.field, "amount");
    }
}
