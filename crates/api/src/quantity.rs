//! Resource quantities (`500m`, `1Gi`, `1e3`) as numbers: the one parser every part of
//! rkube uses (validation, the scheduler's fit checks, the node agent's limits).

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
            let exp = other.strip_prefix(['e', 'E']).ok_or(QuantityError)?;
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

/// Millicores of a CPU quantity, rounded up like upstream's `MilliValue`; `None` when malformed.
pub fn milli(s: &str) -> Option<i64> {
    parse(s).ok().map(|v| (v * 1000.0 - 1e-9).ceil() as i64)
}

/// Whole units (bytes) of a quantity, rounded up like upstream's `Value`; `None` when malformed.
pub fn units(s: &str) -> Option<i64> {
    parse(s).ok().map(|v| (v - 1e-9).ceil() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_suffixes() {
        assert_eq!(milli("100m"), Some(100));
        assert_eq!(milli("2"), Some(2000));
        assert_eq!(milli("0.5"), Some(500));
        assert_eq!(units("64Mi"), Some(64 << 20));
        assert_eq!(units("1G"), Some(1_000_000_000));
        assert_eq!(units("1e3"), Some(1000));
        assert_eq!(units("12x"), None);
        assert_eq!(parse("."), Err(QuantityError));
        assert_eq!(parse("1e"), Err(QuantityError));
    }
}
