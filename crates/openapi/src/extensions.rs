//! Patch metadata extensions (`x-kubernetes-patch-strategy`, list/map types) from the shared strategies table.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::Error;
use crate::schemas::Defs;

/// The table: definition name → field → {"patch-strategy", "patch-merge-key", "list-type", ...}.
const STRATEGIES: &str = include_str!("../../apimachinery/data/list-merge-strategies.json");

type Table = BTreeMap<String, BTreeMap<String, Map<String, Value>>>;

fn table() -> Result<Table, Error> {
    serde_json::from_str(STRATEGIES).map_err(Error::Strategies)
}

/// Adds the `x-kubernetes-*` patch extensions to the properties of `defs` the table names.
pub(crate) fn apply(defs: &mut Defs) -> Result<(), Error> {
    for (def_name, fields) in table()? {
        let Some(properties) = defs
            .get_mut(&def_name)
            .and_then(|d| d.get_mut("properties"))
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        for (field, meta) in fields {
            let Some(Value::Object(prop)) = properties.get_mut(&field) else {
                continue;
            };
            for (key, value) in meta {
                prop.insert(format!("x-kubernetes-{key}"), value);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn table_parses() {
        let t = table().unwrap();
        assert_eq!(
            t["io.k8s.api.core.v1.PodSpec"]["containers"]["patch-merge-key"],
            "name"
        );
    }
}
