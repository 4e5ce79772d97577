//! Validation of container resource requirements: names, quantities, requests ≤ limits.

use std::collections::HashMap;

use serde_json::Value;

use crate::names::is_qualified_name;
use crate::quantity;
use crate::util::*;

fn standard_container_resource(name: &str) -> bool {
    matches!(name, "cpu" | "memory" | "ephemeral-storage") || name.starts_with("hugepages-")
}

fn overcommit_allowed(name: &str) -> bool {
    let native = !name.contains('/') || name.starts_with("kubernetes.io/");
    native && !name.starts_with("hugepages-")
}

/// Validates `resources`: names, quantities, and requests ≤ limits.
pub fn validate_resources(res: &Value, path: &str) -> Errs {
    let mut errs = Errs::new();
    let limits = map_of(res, "limits");
    let requests = map_of(res, "requests");
    let lim_path = at(path, "limits");
    let req_path = at(path, "requests");
    let mut parsed_limits = HashMap::new();
    for (name, q) in limits {
        let fp = key(&lim_path, name);
        errs.extend(validate_resource_name(name, &fp));
        if let Some(v) = validate_quantity(name, q, &fp, &mut errs) {
            parsed_limits.insert(name.as_str(), v);
        }
    }
    for (name, q) in requests {
        let fp = key(&req_path, name);
        errs.extend(validate_resource_name(name, &fp));
        let Some(v) = validate_quantity(name, q, &fp, &mut errs) else {
            continue;
        };
        if let Some(lim) = parsed_limits.get(name.as_str()) {
            let lim_text = quantity::text(&limits[name]);
            if v != *lim && !overcommit_allowed(name) {
                errs.push(invalid(
                    &req_path,
                    &quantity::text(q),
                    format!("must be equal to {name} limit of {lim_text}"),
                ));
            } else if v > *lim {
                errs.push(invalid(
                    &req_path,
                    &quantity::text(q),
                    format!("must be less than or equal to {name} limit of {lim_text}"),
                ));
            }
        } else if !overcommit_allowed(name) && !limits.contains_key(name) {
            errs.push(required(
                &lim_path,
                "Limit must be set for non overcommitable resources",
            ));
        }
    }
    errs
}

fn validate_resource_name(name: &str, fp: &str) -> Errs {
    let mut errs = each(fp, name, is_qualified_name(name));
    if errs.is_empty()
        && (!name.contains('/') || name.starts_with("kubernetes.io/"))
        && !standard_container_resource(name)
    {
        errs.push(invalid(
            fp,
            name,
            "must be a standard resource for containers",
        ));
    }
    errs
}

/// Parses a resource quantity, reporting unparsable or negative values.
pub fn validate_quantity(name: &str, q: &Value, fp: &str, errs: &mut Errs) -> Option<f64> {
    match quantity::parse_value(q) {
        Err(e) => {
            errs.push(invalid(fp, &quantity::text(q), e.to_string()));
            None
        }
        Ok(v) if v < 0.0 => {
            errs.push(invalid(
                fp,
                &quantity::text(q),
                "must be greater than or equal to 0",
            ));
            None
        }
        Ok(v) => {
            let integer = name.contains('/') && !name.starts_with("kubernetes.io/");
            if integer && v.fract() != 0.0 {
                errs.push(invalid(fp, &quantity::text(q), "must be an integer"));
            }
            Some(v)
        }
    }
}
