//! Parsing of resource quantities (`500m`, `1Gi`, `1e3`) for validation and comparison.

pub use rkube_api::quantity::{QUANTITY_FMT, QuantityError, parse};

/// Upstream's canonical text of a quantity (`0.5` → `500m`, `1024Mi` → `1Gi`), as its messages show it.
pub fn canonical(s: &str) -> Option<String> {
    parse(s).ok()?;
    let s = s.trim();
    let (neg, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let num_end = body
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(body.len());
    let (num, suffix) = body.split_at(num_end);
    let (int_part, frac) = num.split_once('.').unwrap_or((num, ""));
    let digits = format!("{int_part}{frac}");
    let mut mantissa: i128 = digits.trim_start_matches('0').parse().unwrap_or(0);
    let mut exp = -(frac.len() as i32);
    let mut binary = false;
    let mut exponent_form = false;
    match suffix {
        "" => {}
        "n" => exp -= 9,
        "u" => exp -= 6,
        "m" => exp -= 3,
        "k" => exp += 3,
        "M" => exp += 6,
        "G" => exp += 9,
        "T" => exp += 12,
        "P" => exp += 15,
        "E" => exp += 18,
        "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei" => {
            let power = ["Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]
                .iter()
                .position(|p| *p == suffix)
                .unwrap_or(0) as u32
                + 1;
            mantissa = mantissa.checked_mul(1024i128.checked_pow(power)?)?;
            binary = true;
        }
        other => {
            exp += other.get(1..)?.parse::<i32>().ok()?;
            exponent_form = true;
        }
    }
    if mantissa == 0 {
        return Some("0".to_string());
    }
    while mantissa % 10 == 0 {
        mantissa /= 10;
        exp += 1;
    }
    // Upstream keeps nano precision, rounding anything finer up.
    if exp < -9 {
        let shift = u32::try_from(-9 - exp).ok()?;
        let div = 10i128.checked_pow(shift)?;
        mantissa = (mantissa + div - 1) / div;
        exp = -9;
    }
    let sign = if neg { "-" } else { "" };
    if binary && exp >= 0 {
        let value = mantissa.checked_mul(10i128.checked_pow(u32::try_from(exp).ok()?)?)?;
        if value >= 1024 {
            let mut v = value;
            let mut k = 0;
            while k < 6 && v % 1024 == 0 {
                v /= 1024;
                k += 1;
            }
            let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][k];
            return Some(format!("{sign}{v}{suffix}"));
        }
    }
    match exp.rem_euclid(3) {
        1 => {
            mantissa = mantissa.checked_mul(10)?;
            exp -= 1;
        }
        2 => {
            mantissa = mantissa.checked_mul(100)?;
            exp -= 2;
        }
        _ => {}
    }
    if exponent_form {
        return Some(if exp == 0 {
            format!("{sign}{mantissa}")
        } else {
            format!("{sign}{mantissa}e{exp}")
        });
    }
    let suffix = match exp {
        -9 => "n",
        -6 => "u",
        -3 => "m",
        0 => "",
        3 => "k",
        6 => "M",
        9 => "G",
        12 => "T",
        15 => "P",
        18 => "E",
        _ => return Some(format!("{sign}{mantissa}e{exp}")),
    };
    Some(format!("{sign}{mantissa}{suffix}"))
}

/// Parses a JSON quantity: a string, or a bare number as some clients send.
pub fn parse_value(v: &serde_json::Value) -> Result<f64, QuantityError> {
    match v {
        serde_json::Value::String(s) => parse(s),
        serde_json::Value::Number(n) => n.as_f64().ok_or(QuantityError),
        _ => Err(QuantityError),
    }
}

/// The text of a quantity as upstream prints it (canonical when it parses).
pub fn text(v: &serde_json::Value) -> String {
    let raw = match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    canonical(&raw).unwrap_or(raw)
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

    #[test]
    fn canonical_forms() {
        for (input, want) in [
            ("0.5", "500m"),
            ("1000", "1k"),
            ("1500m", "1500m"),
            ("2000m", "2"),
            ("1024Mi", "1Gi"),
            ("1000Mi", "1000Mi"),
            ("1.5Gi", "1536Mi"),
            ("512", "512"),
            ("128974848", "128974848"),
            ("129e6", "129e6"),
            ("1e3", "1e3"),
            ("0", "0"),
            ("100M", "100M"),
            ("-1", "-1"),
            ("0.1", "100m"),
        ] {
            assert_eq!(canonical(input).as_deref(), Some(want), "{input}");
        }
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
            let _ = canonical(&s);
        }

        #[test]
        fn canonical_keeps_value(n in 1u32..100_000, suffix in "(|m|k|M|Ki|Mi|Gi)") {
            let input = format!("{n}{suffix}");
            let back = canonical(&input).unwrap();
            prop_assert!((parse(&back).unwrap() - parse(&input).unwrap()).abs() < 1e-6);
        }
    }
}
