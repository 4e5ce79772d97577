//! Resource quantities (`100m`, `64Mi`, `1e3`) as numbers.

/// The value of a quantity in base units (cores, bytes), `None` when malformed.
pub fn parse(q: &str) -> Option<f64> {
    rkube_api::quantity::parse(q).ok()
}

/// Millicores of a CPU quantity, rounded up.
pub fn milli_cpu(q: &str) -> Option<i64> {
    parse(q).map(|v| (v * 1000.0).ceil() as i64)
}

/// Bytes of a memory quantity, rounded up.
pub fn bytes(q: &str) -> Option<i64> {
    parse(q).map(|v| v.ceil() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        assert_eq!(milli_cpu("100m"), Some(100));
        assert_eq!(milli_cpu("2"), Some(2000));
        assert_eq!(milli_cpu("0.5"), Some(500));
        assert_eq!(bytes("64Mi"), Some(64 << 20));
        assert_eq!(bytes("1G"), Some(1_000_000_000));
        assert_eq!(bytes("1e3"), Some(1000));
        assert_eq!(bytes("12x"), None);
    }
}
