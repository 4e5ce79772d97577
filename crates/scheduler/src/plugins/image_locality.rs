//! ImageLocality: favours nodes that already hold the pod's images, scaled by how widespread they are.

use crate::cache::{Cache, NodeInfo, normalize_image};
use crate::framework::MAX_NODE_SCORE;
use crate::pod_info::PodInfo;

const MB: i64 = 1024 * 1024;
const MIN_THRESHOLD: i64 = 23 * MB;
const MAX_CONTAINER_THRESHOLD: i64 = 1000 * MB;

/// Scores by the summed, spread-scaled sizes of present images.
pub fn score(cache: &Cache, pod: &PodInfo, nodes: &[&NodeInfo]) -> Vec<i64> {
    let Some(spec) = pod.pod.spec.as_ref() else {
        return vec![0; nodes.len()];
    };
    let images: Vec<String> = spec
        .init_containers
        .iter()
        .flatten()
        .chain(spec.containers.iter())
        .filter_map(|c| c.image.as_deref())
        .map(normalize_image)
        .collect();
    let total = cache.node_count().max(1) as f64;
    let spreads: Vec<f64> = images
        .iter()
        .map(|img| cache.image_node_count(img) as f64 / total)
        .collect();
    let max_threshold = MAX_CONTAINER_THRESHOLD * spec.containers.len().max(1) as i64;
    nodes
        .iter()
        .map(|n| {
            if n.images.is_empty() {
                return 0;
            }
            let sum: i64 = images
                .iter()
                .zip(&spreads)
                .filter_map(|(img, spread)| {
                    let size = *n.images.get(img)?;
                    Some((size as f64 * spread) as i64)
                })
                .sum();
            let clamped = sum.clamp(MIN_THRESHOLD, max_threshold);
            MAX_NODE_SCORE * (clamped - MIN_THRESHOLD) / (max_threshold - MIN_THRESHOLD)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testutil::{cache, node, pod};
    use serde_json::json;

    #[test]
    fn nodes_with_the_image_score_higher() {
        let big = json!({"status": {"images": [{"names": ["docker.io/library/app:1", "app:1"], "sizeBytes": 600 * MB}]}});
        let c = cache(vec![node("a", big), node("b", json!({}))], vec![]);
        let p = pod(
            "p",
            json!({"spec": {"containers": [{"name": "c", "image": "app:1"}]}}),
        );
        let nodes: Vec<_> = c.nodes().collect();
        let s = score(&c, &p, &nodes);
        assert!(s[0] > 0, "{s:?}");
        assert_eq!(s[1], 0);
    }
}
