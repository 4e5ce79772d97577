//! Canonical serialization of resource quantities (`1000m` → `1`, `1024Mi` → `1Gi`), as upstream prints them.

/// How a quantity was written, which decides how it is printed back.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    DecimalSi,
    BinarySi,
    DecimalExponent,
}

const NANO: i128 = 1_000_000_000;

/// The canonical text of quantity `s`; with `round_to_milli`, values finer than
/// a milli-unit are first rounded up, as upstream does for resource lists.
/// `None` when `s` is not a quantity this parser handles (it is left as is).
pub(crate) fn canonicalize(s: &str, round_to_milli: bool) -> Option<String> {
    let (mut nanos, format) = parse_nanos(s.trim())?;
    if round_to_milli {
        let step = 1_000_000;
        let rem = nanos.rem_euclid(step);
        if rem != 0 {
            nanos += step - rem;
        }
    }
    Some(format_nanos(nanos, format))
}

/// Parses a quantity into its value in nano-units (rounded up past nano precision).
fn parse_nanos(s: &str) -> Option<(i128, Format)> {
    let (negative, rest) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let num_end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let (number, suffix) = rest.split_at(num_end);
    let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
    if int_part.is_empty() && frac_part.is_empty() || frac_part.contains('.') {
        return None;
    }
    let (exp10, exp2, format) = match suffix {
        "" => (0, 0, Format::DecimalSi),
        "n" => (-9, 0, Format::DecimalSi),
        "u" => (-6, 0, Format::DecimalSi),
        "m" => (-3, 0, Format::DecimalSi),
        "k" => (3, 0, Format::DecimalSi),
        "M" => (6, 0, Format::DecimalSi),
        "G" => (9, 0, Format::DecimalSi),
        "T" => (12, 0, Format::DecimalSi),
        "P" => (15, 0, Format::DecimalSi),
        "E" => (18, 0, Format::DecimalSi),
        "Ki" => (0, 10, Format::BinarySi),
        "Mi" => (0, 20, Format::BinarySi),
        "Gi" => (0, 30, Format::BinarySi),
        "Ti" => (0, 40, Format::BinarySi),
        "Pi" => (0, 50, Format::BinarySi),
        "Ei" => (0, 60, Format::BinarySi),
        e if e.starts_with(['e', 'E']) => (e[1..].parse::<i32>().ok()?, 0, Format::DecimalExponent),
        _ => return None,
    };
    if int_part.len() + frac_part.len() > 30 || !(-40..=30).contains(&exp10) {
        return None;
    }
    // digits × 10^(exp10 - len(frac)) × 2^exp2, in nano-units.
    let digits: i128 = format!("{int_part}{frac_part}").parse().ok()?;
    let mut scale = exp10 - frac_part.len() as i32 + 9;
    let mut value = digits.checked_mul(1i128.checked_shl(exp2)?)?;
    while scale > 0 {
        value = value.checked_mul(10)?;
        scale -= 1;
    }
    if scale < 0 {
        let div = 10i128.checked_pow(scale.unsigned_abs())?;
        value = value / div + i128::from(value % div != 0);
    }
    Some((if negative { -value } else { value }, format))
}

fn format_nanos(nanos: i128, format: Format) -> String {
    if nanos == 0 {
        return "0".to_string();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let abs = nanos.abs();
    if format == Format::BinarySi && abs >= 1024 * NANO && abs % NANO == 0 {
        let mut whole = abs / NANO;
        let mut exp = 0;
        while whole % 1024 == 0 && exp < 6 {
            whole /= 1024;
            exp += 1;
        }
        let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][exp];
        return format!("{sign}{whole}{suffix}");
    }
    let mut mantissa = abs;
    let mut exp: i32 = -9;
    while mantissa % 10 == 0 {
        mantissa /= 10;
        exp += 1;
    }
    // The exponent must be a multiple of three; Go's remainder keeps the sign.
    let extra = match exp % 3 {
        1 | -2 => 1,
        2 | -1 => 2,
        _ => 0,
    };
    mantissa *= 10i128.pow(extra);
    exp -= extra as i32;
    let suffix = match (format, exp) {
        (Format::DecimalExponent, 0) => String::new(),
        (Format::DecimalExponent, e) => format!("e{e}"),
        (_, -9) => "n".into(),
        (_, -6) => "u".into(),
        (_, -3) => "m".into(),
        (_, 0) => String::new(),
        (_, 3) => "k".into(),
        (_, 6) => "M".into(),
        (_, 9) => "G".into(),
        (_, 12) => "T".into(),
        (_, 15) => "P".into(),
        (_, 18) => "E".into(),
        (_, e) => format!("e{e}"),
    };
    format!("{sign}{mantissa}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::canonicalize;

    #[test]
    fn canonical_forms_match_upstream() {
        let cases = [
            ("1000m", "1"),
            ("100m", "100m"),
            ("1500m", "1500m"),
            ("0.5", "500m"),
            ("1.5", "1500m"),
            ("2", "2"),
            ("2000", "2k"),
            ("120000", "120k"),
            ("128Mi", "128Mi"),
            ("1024Mi", "1Gi"),
            ("1536Mi", "1536Mi"),
            ("0.5Gi", "512Mi"),
            ("0.5Ki", "512"),
            ("1Ki", "1Ki"),
            ("1G", "1G"),
            ("1e3", "1e3"),
            ("1E3", "1e3"),
            ("0", "0"),
            ("0Mi", "0"),
            ("-100m", "-100m"),
            ("10u", "10u"),
        ];
        for (input, want) in cases {
            assert_eq!(canonicalize(input, false).as_deref(), Some(want), "{input}");
        }
        assert_eq!(canonicalize("0.1m", true).as_deref(), Some("1m"));
        assert_eq!(canonicalize("10u", true).as_deref(), Some("1m"));
        assert_eq!(canonicalize("abc", false), None);
        assert_eq!(canonicalize("1Zi", false), None);
    }
}
