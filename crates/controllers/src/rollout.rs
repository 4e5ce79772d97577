//! Pure Deployment rollout math: pod-template-hash, maxSurge/maxUnavailable, scaling steps.

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;

/// Label (and selector key) that ties a ReplicaSet to its pod template.
pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";
/// Revision annotation on Deployments and ReplicaSets.
pub const REVISION: &str = "deployment.kubernetes.io/revision";
/// Revisions this ReplicaSet had before (when an old template comes back).
pub const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
/// The Deployment's `spec.replicas` when the ReplicaSet was last scaled.
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
/// `spec.replicas + maxSurge` when the ReplicaSet was last scaled.
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";

const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// Upstream's `rand.SafeEncodeString`: maps each byte onto an alphabet without vowels.
pub fn safe_encode(s: &str) -> String {
    s.bytes()
        .map(|b| SAFE_ALPHABET[usize::from(b) % SAFE_ALPHABET.len()] as char)
        .collect()
}

/// 32-bit FNV-1a.
pub fn fnv32a(data: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in data {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

fn canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String((*k).clone()).to_string());
                out.push(':');
                if let Some(x) = m.get(*k) {
                    canonical(x, out);
                }
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(x, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// The pod-template-hash of a template (as JSON) and collision count, as upstream's
/// `ComputeHash`: FNV-32a over the printed template, then the collision count as 8
/// little-endian bytes, the decimal sum safe-encoded.
pub fn pod_template_hash(template: &Value, collision_count: Option<i32>) -> String {
    let mut printed = String::new();
    canonical(template, &mut printed);
    let mut data = printed.into_bytes();
    if let Some(c) = collision_count {
        let mut b = [0u8; 8];
        b[..4].copy_from_slice(&(c as u32).to_le_bytes());
        data.extend_from_slice(&b);
    }
    safe_encode(&fnv32a(&data).to_string())
}

/// Removes the pod-template-hash label from a template (as JSON), for comparisons.
pub fn strip_hash_label(mut template: Value) -> Value {
    if let Some(labels) = template
        .get_mut("metadata")
        .and_then(|m| m.get_mut("labels"))
        .and_then(Value::as_object_mut)
    {
        labels.remove(POD_TEMPLATE_HASH);
        if labels.is_empty()
            && let Some(m) = template.get_mut("metadata").and_then(Value::as_object_mut)
        {
            m.remove("labels");
        }
    }
    template
}

/// Upstream's `GetScaledValueFromIntOrPercent`: an int, or `N%` of `total` rounded up or down.
pub fn scaled_value(v: &IntOrString, total: i32, round_up: bool) -> Option<i32> {
    match v {
        IntOrString::Int(i) => Some(*i),
        IntOrString::String(s) => {
            let pct: i64 = s.strip_suffix('%')?.trim().parse().ok()?;
            let num = pct * i64::from(total);
            let r = if round_up {
                (num + 99).div_euclid(100)
            } else {
                num.div_euclid(100)
            };
            i32::try_from(r).ok()
        }
    }
}

/// `(maxSurge, maxUnavailable)` for `desired` replicas; both zero becomes unavailable 1.
pub fn resolve_fenceposts(
    max_surge: Option<&IntOrString>,
    max_unavailable: Option<&IntOrString>,
    desired: i32,
) -> (i32, i32) {
    let default = IntOrString::String("25%".into());
    let surge = scaled_value(max_surge.unwrap_or(&default), desired, true).unwrap_or(0);
    let unavailable =
        scaled_value(max_unavailable.unwrap_or(&default), desired, false).unwrap_or(0);
    if surge == 0 && unavailable == 0 {
        (0, 1)
    } else {
        (surge.max(0), unavailable.max(0))
    }
}

/// Replicas the new ReplicaSet may have now during a rolling update (`NewRSNewReplicas`).
pub fn new_rs_replicas(desired: i32, max_surge: i32, total_current: i32, new_current: i32) -> i32 {
    if new_current >= desired {
        return desired;
    }
    let max_total = desired + max_surge;
    if total_current >= max_total {
        return new_current;
    }
    let up = (max_total - total_current).min(desired - new_current);
    new_current + up
}

/// One ReplicaSet as the rollout math sees it: `spec.replicas` and available pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RsCounts {
    pub replicas: i32,
    pub available: i32,
}

/// New sizes of the old ReplicaSets (oldest first) for one rolling-update step
/// (`reconcileOldReplicaSets`): first unhealthy pods, then down to `desired - maxUnavailable`.
pub fn scale_down_old(
    desired: i32,
    max_unavailable: i32,
    new_rs: RsCounts,
    olds: &[RsCounts],
) -> Vec<i32> {
    let mut sizes: Vec<i32> = olds.iter().map(|r| r.replicas).collect();
    let old_total: i32 = sizes.iter().sum();
    if old_total == 0 {
        return sizes;
    }
    let all_total = old_total + new_rs.replicas;
    let min_available = desired - max_unavailable;
    let new_unavailable = new_rs.replicas - new_rs.available;
    let max_scaled_down = all_total - min_available - new_unavailable;
    if max_scaled_down <= 0 {
        return sizes;
    }
    // Unhealthy replicas go first.
    let mut cleaned = 0;
    for (i, rs) in olds.iter().enumerate() {
        if cleaned >= max_scaled_down {
            break;
        }
        if sizes[i] == 0 || sizes[i] == rs.available {
            continue;
        }
        let n = (max_scaled_down - cleaned).min(sizes[i] - rs.available);
        sizes[i] -= n;
        cleaned += n;
    }
    // Then healthy ones, keeping minAvailable.
    let available: i32 = olds.iter().map(|r| r.available).sum::<i32>() + new_rs.available;
    if available <= min_available {
        return sizes;
    }
    let total_down = available - min_available;
    let mut done = 0;
    for size in &mut sizes {
        if done >= total_down {
            break;
        }
        if *size == 0 {
            continue;
        }
        let n = (*size).min(total_down - done);
        *size -= n;
        done += n;
    }
    sizes
}

/// One active ReplicaSet for proportional scaling: size, its `max-replicas` annotation, age rank.
#[derive(Debug, Clone, Copy)]
pub struct ScaleInput {
    pub replicas: i32,
    pub annotated_max: Option<i32>,
}

/// Proportional scaling of active ReplicaSets (given newest first) when the Deployment is
/// resized mid-rollout, as upstream's `scale`. Returns the new sizes in the same order.
pub fn proportional_scale(
    desired: i32,
    max_surge: i32,
    status_replicas: i32,
    rss: &[ScaleInput],
) -> Vec<i32> {
    let total: i32 = rss.iter().map(|r| r.replicas).sum();
    let allowed = if desired > 0 { desired + max_surge } else { 0 };
    let to_add = allowed - total;
    let mut order: Vec<usize> = (0..rss.len()).collect();
    // Larger first; for scale up newer wins ties, for scale down older does.
    if to_add > 0 {
        order.sort_by(|a, b| rss[*b].replicas.cmp(&rss[*a].replicas).then(a.cmp(b)));
    } else {
        order.sort_by(|a, b| rss[*b].replicas.cmp(&rss[*a].replicas).then(b.cmp(a)));
    }
    let mut sizes: Vec<i32> = rss.iter().map(|r| r.replicas).collect();
    let mut added = 0;
    if to_add != 0 {
        for &i in &order {
            let rs = rss[i];
            if rs.replicas == 0 || to_add == added {
                continue;
            }
            let fraction = if desired == 0 {
                -rs.replicas
            } else {
                let annotated = rs.annotated_max.unwrap_or(status_replicas).max(1);
                let size =
                    f64::from(rs.replicas) * f64::from(desired + max_surge) / f64::from(annotated);
                size.round() as i32 - rs.replicas
            };
            let allowed_left = to_add - added;
            let p = if to_add > 0 {
                fraction.min(allowed_left)
            } else {
                fraction.max(allowed_left)
            };
            sizes[i] += p;
            added += p;
        }
        if let Some(&first) = order.first() {
            sizes[first] += to_add - added;
        }
    }
    sizes.iter().map(|s| (*s).max(0)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hash_is_stable_safe_and_collision_sensitive() {
        let t = json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}});
        let reordered = json!({"spec": {"containers": [{"image": "nginx", "name": "c"}]}, "metadata": {"labels": {"app": "web"}}});
        let h = pod_template_hash(&t, None);
        assert_eq!(h, pod_template_hash(&reordered, None));
        assert!(h.len() <= 10 && !h.is_empty());
        assert!(h.bytes().all(|b| SAFE_ALPHABET.contains(&b)));
        assert_ne!(h, pod_template_hash(&t, Some(1)));
        let other = json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx:2"}]}});
        assert_ne!(h, pod_template_hash(&other, None));
    }

    #[test]
    fn fnv_and_safe_encode_match_go() {
        // hash/fnv New32a of "" and "a".
        assert_eq!(fnv32a(b""), 0x811c9dc5);
        assert_eq!(fnv32a(b"a"), 0xe40c292c);
        // '0' is 48 -> 48 % 27 = 21 -> '4'.
        assert_eq!(safe_encode("0"), "4");
    }

    #[test]
    fn strip_hash_label_for_comparison() {
        let t = json!({"metadata": {"labels": {"app": "a", "pod-template-hash": "x"}}});
        assert_eq!(
            strip_hash_label(t),
            json!({"metadata": {"labels": {"app": "a"}}})
        );
    }

    #[test]
    fn fenceposts_round_like_upstream() {
        let pct = |s: &str| IntOrString::String(s.into());
        assert_eq!(resolve_fenceposts(None, None, 10), (3, 2));
        assert_eq!(resolve_fenceposts(None, None, 1), (1, 0));
        assert_eq!(
            resolve_fenceposts(Some(&IntOrString::Int(0)), Some(&IntOrString::Int(0)), 3),
            (0, 1)
        );
        assert_eq!(
            resolve_fenceposts(Some(&pct("50%")), Some(&pct("50%")), 5),
            (3, 2)
        );
        assert_eq!(scaled_value(&pct("bad"), 5, true), None);
    }

    #[test]
    fn new_rs_scale_up_honours_surge() {
        // 3 desired, surge 1, old RS at 3: new may go to 1.
        assert_eq!(new_rs_replicas(3, 1, 3, 0), 1);
        // Already at max total: wait.
        assert_eq!(new_rs_replicas(3, 1, 4, 1), 1);
        assert_eq!(new_rs_replicas(3, 1, 2, 1), 3);
        assert_eq!(new_rs_replicas(3, 1, 5, 5), 3);
    }

    #[test]
    fn old_scale_down_honours_max_unavailable() {
        // desired 3, maxUnavailable 0: new RS has 1 unavailable pod -> nothing to scale down.
        let new = RsCounts {
            replicas: 1,
            available: 0,
        };
        let old = [RsCounts {
            replicas: 3,
            available: 3,
        }];
        assert_eq!(scale_down_old(3, 0, new, &old), vec![3]);
        // The new pod becomes available -> one old pod may go.
        let new = RsCounts {
            replicas: 1,
            available: 1,
        };
        assert_eq!(scale_down_old(3, 0, new, &old), vec![2]);
        // Unhealthy old pods are removed first, even beyond availability.
        let old = [RsCounts {
            replicas: 3,
            available: 1,
        }];
        let new = RsCounts {
            replicas: 1,
            available: 0,
        };
        assert_eq!(scale_down_old(3, 1, new, &old), vec![2]);
    }

    #[test]
    fn proportional_scaling_spreads_by_size() {
        // 10 desired with surge 3 mid-rollout (8 old + 5 new = 13); scaled to 20 (surge 5).
        let rss = [
            ScaleInput {
                replicas: 5,
                annotated_max: Some(13),
            },
            ScaleInput {
                replicas: 8,
                annotated_max: Some(13),
            },
        ];
        let sizes = proportional_scale(20, 5, 13, &rss);
        assert_eq!(sizes.iter().sum::<i32>(), 25);
        assert!(sizes[1] > sizes[0]);
        assert_eq!(proportional_scale(0, 0, 13, &rss), vec![0, 0]);
    }
}
