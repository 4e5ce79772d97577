//! Key-range arithmetic shared by the backends (prefix ends, paging starts).

/// The smallest byte string greater than every string starting with `prefix`
/// (etcd's "range end"); empty means "no upper bound".
pub(crate) fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    Vec::new()
}

/// The first key a list may return: the prefix itself, or just after `start_after`.
pub(crate) fn range_start(prefix: &str, start_after: Option<&str>) -> Vec<u8> {
    match start_after {
        Some(after) if after.as_bytes() >= prefix.as_bytes() => {
            let mut start = after.as_bytes().to_vec();
            start.push(0);
            start
        }
        _ => prefix.as_bytes().to_vec(),
    }
}

/// Whether `key` lies in `[start, end)`, an empty `end` meaning unbounded.
pub(crate) fn in_range(key: &[u8], start: &[u8], end: &[u8]) -> bool {
    key >= start && (end.is_empty() || key < end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_increments_last_byte() {
        assert_eq!(prefix_end(b"/registry/pods/"), b"/registry/pods0".to_vec());
        assert_eq!(prefix_end(b"a\xff\xff"), b"b".to_vec());
        assert_eq!(prefix_end(b"\xff"), Vec::<u8>::new());
        assert_eq!(prefix_end(b""), Vec::<u8>::new());
    }

    #[test]
    fn range_start_skips_start_after() {
        assert_eq!(range_start("/a/", None), b"/a/".to_vec());
        assert_eq!(range_start("/a/", Some("/a/x")), b"/a/x\0".to_vec());
        assert_eq!(range_start("/b/", Some("/a/x")), b"/b/".to_vec());
    }

    #[test]
    fn in_range_respects_bounds() {
        let end = prefix_end(b"/registry/pods/");
        assert!(in_range(b"/registry/pods/a", b"/registry/pods/", &end));
        assert!(!in_range(
            b"/registry/podtemplates/a",
            b"/registry/pods/",
            &end
        ));
        assert!(in_range(b"zzz", b"a", b""));
    }
}
