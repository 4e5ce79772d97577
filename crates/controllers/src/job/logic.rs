//! The pure arithmetic of the Job controller: how many pods, back-off, completion indexes.

use std::collections::BTreeSet;
use std::time::Duration;

/// Upstream's `DefaultJobPodFailureBackOff`.
pub const BACKOFF_BASE: Duration = Duration::from_secs(10);
/// Upstream's `MaxJobPodFailureBackOff`.
pub const BACKOFF_MAX: Duration = Duration::from_secs(360);

/// How many active pods a Job wants: `parallelism`, bounded by the completions still missing.
/// With no `completions` (a work queue) no new pod starts once one succeeded.
pub fn wanted_active(
    completions: Option<i32>,
    parallelism: i32,
    active: i32,
    succeeded: i32,
) -> i32 {
    let parallelism = parallelism.max(0);
    match completions {
        Some(c) => parallelism.min((c - succeeded).max(0)),
        None if succeeded > 0 => active.min(parallelism),
        None => parallelism,
    }
}

/// Pods to create (positive) or delete (negative).
pub fn pod_diff(completions: Option<i32>, parallelism: i32, active: i32, succeeded: i32) -> i32 {
    wanted_active(completions, parallelism, active, succeeded) - active
}

/// The delay before creating a pod after `failures` consecutive pod failures:
/// 10 s × 2^(n-1), capped at 6 min; none without failures.
pub fn backoff_delay(failures: u32) -> Duration {
    if failures == 0 {
        return Duration::ZERO;
    }
    let shift = (failures - 1).min(16);
    BACKOFF_BASE
        .checked_mul(1u32 << shift)
        .unwrap_or(BACKOFF_MAX)
        .min(BACKOFF_MAX)
}

/// Whether failures exceed `backoffLimit`: more failed pods than the limit, or (OnFailure)
/// container restarts in active pods reaching it, as upstream's `pastBackoffLimitOnFailure`.
pub fn exceeds_backoff_limit(failed: i32, restarts_on_failure: Option<i32>, limit: i32) -> bool {
    if failed > limit {
        return true;
    }
    match restarts_on_failure {
        Some(r) if limit == 0 => r > 0,
        Some(r) => r >= limit,
        None => false,
    }
}

/// Whether a Job with these counts succeeded.
pub fn is_complete(completions: Option<i32>, succeeded: i32, active: i32) -> bool {
    match completions {
        Some(c) => succeeded >= c,
        None => succeeded > 0 && active == 0,
    }
}

/// Parses `status.completedIndexes` (`1,3-5,7`).
pub fn parse_indexes(s: &str) -> BTreeSet<i32> {
    let mut out = BTreeSet::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<i32>(), b.parse::<i32>()) {
                    out.extend(a..=b);
                }
            }
            None => {
                if let Ok(v) = part.parse() {
                    out.insert(v);
                }
            }
        }
    }
    out
}

/// Formats indexes as upstream does: ascending, consecutive runs as `a-b`.
pub fn format_indexes(set: &BTreeSet<i32>) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut iter = set.iter().copied().peekable();
    while let Some(start) = iter.next() {
        let mut end = start;
        while iter.peek() == Some(&(end + 1)) {
            end += 1;
            iter.next();
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
    }
    parts.join(",")
}

/// The lowest `count` indexes in `0..completions` neither completed nor held by an active pod.
pub fn indexes_to_create(
    completions: i32,
    completed: &BTreeSet<i32>,
    active: &BTreeSet<i32>,
    count: usize,
) -> Vec<i32> {
    (0..completions)
        .filter(|i| !completed.contains(i) && !active.contains(i))
        .take(count)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_to_create() {
        // A Job of 1.
        assert_eq!(pod_diff(Some(1), 1, 0, 0), 1);
        assert_eq!(pod_diff(Some(1), 1, 1, 0), 0);
        assert_eq!(pod_diff(Some(1), 1, 0, 1), 0);
        // 6 completions, 2 at a time.
        assert_eq!(pod_diff(Some(6), 2, 0, 0), 2);
        assert_eq!(pod_diff(Some(6), 2, 1, 4), 1);
        assert_eq!(pod_diff(Some(6), 2, 2, 4), 0);
        assert_eq!(pod_diff(Some(6), 2, 0, 5), 1);
        assert_eq!(pod_diff(Some(6), 2, 2, 5), -1);
        // Failures do not reduce the wanted count.
        assert_eq!(pod_diff(Some(3), 3, 1, 0), 2);
        // Work queue: no new pods once one succeeded.
        assert_eq!(pod_diff(None, 3, 0, 0), 3);
        assert_eq!(pod_diff(None, 3, 2, 1), 0);
        assert_eq!(pod_diff(None, 3, 0, 1), 0);
        // Parallelism 0 (scaled to zero) deletes.
        assert_eq!(pod_diff(Some(5), 0, 2, 0), -2);
    }

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff_delay(0), Duration::ZERO);
        assert_eq!(backoff_delay(1), Duration::from_secs(10));
        assert_eq!(backoff_delay(2), Duration::from_secs(20));
        assert_eq!(backoff_delay(3), Duration::from_secs(40));
        assert_eq!(backoff_delay(6), Duration::from_secs(320));
        assert_eq!(backoff_delay(7), Duration::from_secs(360));
        assert_eq!(backoff_delay(100), Duration::from_secs(360));
    }

    #[test]
    fn backoff_limit() {
        assert!(!exceeds_backoff_limit(6, None, 6));
        assert!(exceeds_backoff_limit(7, None, 6));
        assert!(exceeds_backoff_limit(1, None, 0));
        assert!(exceeds_backoff_limit(0, Some(6), 6));
        assert!(!exceeds_backoff_limit(0, Some(5), 6));
        assert!(exceeds_backoff_limit(0, Some(1), 0));
        assert!(!exceeds_backoff_limit(0, Some(0), 0));
    }

    #[test]
    fn completion() {
        assert!(is_complete(Some(1), 1, 0));
        assert!(!is_complete(Some(6), 5, 1));
        assert!(is_complete(None, 1, 0));
        assert!(!is_complete(None, 1, 1));
    }

    #[test]
    fn completed_indexes() {
        let s = parse_indexes("0,2-4,7");
        assert_eq!(s.iter().copied().collect::<Vec<_>>(), vec![0, 2, 3, 4, 7]);
        assert_eq!(format_indexes(&s), "0,2-4,7");
        assert_eq!(format_indexes(&BTreeSet::new()), "");
        assert_eq!(format_indexes(&parse_indexes("1,2,3")), "1-3");
        let active: BTreeSet<i32> = [1].into();
        assert_eq!(indexes_to_create(8, &s, &active, 2), vec![5, 6]);
        assert_eq!(indexes_to_create(8, &s, &active, 10), vec![5, 6]);
        assert!(indexes_to_create(3, &parse_indexes("0-2"), &active, 1).is_empty());
    }
}
