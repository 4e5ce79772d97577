//! Parsing of resource quantities (`500m`, `1Gi`, `1e3`) for validation and comparison.

use thiserror::Error;

/// The regex upstream quotes when a quantity does not parse.
pub const QUANTITY_FMT: &str = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$";

/// Why a quantity string is not a quantity.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("quantities must match the regular expression '{QUANTITY_FMT}'")]
pub struct QuantityError;

/// Parses a quantity into its value as a float (precise enough to compare requests and limits).
pub fn parse(s: &str) -> Result<f64, QuantityError> {
    let s = s.trim();
    let num_end = s
        .char_indices()
        .find(|(i, c)| !(c.is_ascii_digit() || *c == '.' || (*i == 0 && (*c == '+' || *c == '-'))))
        .map_or(s.len(), |(i, _)| i);
    let (num, suffix) = s.split_at(num_end);
    let digits = num.trim_start_matches(['+', '-']);
    if digits.is_empty() || digits == "." || digits.matches('.').count() > 1 {
        return Err(QuantityError);
    }
    let base: f64 = num.parse().map_err(|_| QuantityError)?;
    let mult = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        other => {
            let exp = other
                .strip_prefix(['e', 'E'])
                .ok_or(QuantityError)?;
            let exp_digits = exp.trim_start_matches(['+', '-']);
            if exp_digits.is_empty() || !exp_digits.bytes().all(|c| c.is_ascii_digit()) {
                return Err(QuantityError);
            }
            let e: i32 = exp.parse().map_err(|_| QuantityError)?;
            10f64.powi(e)
        }
    };
    Ok(base * mult)
}

/// Parses a JSON quantity: a string, or a bare number as some clients send.
pub fn parse_value(v: &serde_json::Value) -> Result<f64, QuantityError> {
    match v {
        serde_json::Value::String(s) => parse(s),
        serde_json::Value::Number(n) => n.as_f64().ok_or(QuantityError),
        _ => Err(QuantityError),
    }
}

/// The text of a quantity as the user wrote it.
pub fn text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses() {
        assert_eq!(parse("500m"), Ok(0.5));
        assert_eq!(parse("1Gi"), Ok(1073741824.0));
        assert_eq!(parse("1e3"), Ok(1000.0));
        assert_eq!(parse("-2"), Ok(-2.0));
        assert_eq!(parse("1.5k"), Ok(1500.0));
        assert_eq!(parse("abc"), Err(QuantityError));
        assert_eq!(parse("1Gb"), Err(QuantityError));
        assert_eq!(parse(""), Err(QuantityError));
        assert_eq!(parse("."), Err(QuantityError));
    }

    proptest! {
        #[test]
        fn integers_round_trip(n in 0u32..1_000_000) {
            prop_assert_eq!(parse(&n.to_string()), Ok(f64::from(n)));
            prop_assert_eq!(parse(&format!("{n}Ki")), Ok(f64::from(n) * 1024.0));
        }

        #[test]
        fn never_panics(s in "\\PC{0,12}") {
            let _ = parse(&s);
        }
    }
}
