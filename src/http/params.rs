//! Query-string values. They arrive as text and are parsed here, so a bad value
//! is reported with its parameter's name (the query-string deserializer does not
//! say which field failed).

use super::error::ApiError;

/// Page size when `limit` is not given.
pub const DEFAULT_PAGE: i64 = 50;

/// An optional integer parameter.
pub fn int_param(field: &str, value: Option<&str>) -> Result<Option<i64>, ApiError> {
    value
        .map(|v| {
            v.trim()
                .parse::<i64>()
                .map_err(|_| ApiError::invalid(field, format!("{field} must be an integer")))
        })
        .transpose()
}

/// A required integer parameter.
pub fn required_int(field: &str, value: Option<&str>) -> Result<i64, ApiError> {
    int_param(field, value)?.ok_or_else(|| ApiError::invalid(field, format!("{field} is required")))
}

/// A boolean parameter (`true`/`false`, `1`/`0`), default false.
pub fn bool_param(field: &str, value: Option<&str>) -> Result<bool, ApiError> {
    match value.map(str::trim) {
        None | Some("") => Ok(false),
        Some("true" | "1") => Ok(true),
        Some("false" | "0") => Ok(false),
        Some(_) => Err(ApiError::invalid(
            field,
            format!("{field} must be true or false"),
        )),
    }
}

/// `after` (default 0) and `limit` (default [`DEFAULT_PAGE`]); the domain checks the range.
pub fn after_and_limit(after: Option<&str>, limit: Option<&str>) -> Result<(i64, i64), ApiError> {
    let after = int_param("after", after)?.unwrap_or(0);
    let limit = int_param("limit", limit)?.unwrap_or(DEFAULT_PAGE);
    Ok((after, limit))
}
