//! Lenient readers over `serde_json::Value`, for service payloads whose shape we do not control:
//! a wrong type reads as "absent", never as a panic.

use serde_json::Value;

/// A trimmed, non-empty string; numbers are rendered as text.
pub(crate) fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => {
            let s = s.trim();
            (!s.is_empty()).then(|| s.to_owned())
        }
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The elements of an array, or nothing.
pub(crate) fn array(value: Option<&Value>) -> &[Value] {
    match value {
        Some(Value::Array(items)) => items,
        _ => &[],
    }
}

/// A number, or a string holding one.
pub(crate) fn number(value: Option<&Value>) -> Option<f64> {
    match value? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|n: &f64| n.is_finite())
}

/// An integer, or a string holding one.
pub(crate) fn integer(value: Option<&Value>) -> Option<i64> {
    match value? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A date as `YYYY`, `YYYY-MM` or `YYYY-MM-DD`, from a `{year, month?, day?}` object (AcoustID)
/// or a string (MusicBrainz, AudD), which is kept as given.
pub(crate) fn date(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::Object(parts) => {
            let year = integer(parts.get("year")).filter(|y| *y > 0)?;
            let month = integer(parts.get("month")).filter(|m| (1..=12).contains(m));
            let day = integer(parts.get("day")).filter(|d| (1..=31).contains(d));
            Some(match (month, day) {
                (Some(month), Some(day)) => format!("{year:04}-{month:02}-{day:02}"),
                (Some(month), None) => format!("{year:04}-{month:02}"),
                (None, _) => format!("{year:04}"),
            })
        }
        other => text(Some(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dates_render_partially() {
        assert_eq!(date(Some(&json!({"year": 2001}))).as_deref(), Some("2001"));
        assert_eq!(
            date(Some(&json!({"year": 2001, "month": 5}))).as_deref(),
            Some("2001-05")
        );
        assert_eq!(
            date(Some(&json!({"year": 2001, "month": 5, "day": 9}))).as_deref(),
            Some("2001-05-09")
        );
        assert_eq!(date(Some(&json!({"month": 5}))), None);
        assert_eq!(date(Some(&json!("1999-12"))).as_deref(), Some("1999-12"));
        assert_eq!(date(Some(&json!([1, 2]))), None);
    }
}
