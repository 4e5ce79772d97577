//! Printers for RBAC bindings: ROLE plus the USERS, GROUPS and SERVICEACCOUNTS of their subjects.

use jiff::Timestamp;
use serde_json::Value;

use crate::util::{Obj, s};
use crate::{AGE, Column, NAME, col};

const ROLE_DESC: &str = "RoleRef can reference a Role in the current namespace or a ClusterRole in the global namespace. If the RoleRef cannot be resolved, the Authorizer must return an error. This field is immutable.";

pub(crate) static ROLE_BINDING_COLUMNS: &[Column] = &[
    NAME,
    col("Role", "string", ROLE_DESC, 0),
    AGE,
    col("Users", "string", "Users in the roleBinding", 1),
    col("Groups", "string", "Groups in the roleBinding", 1),
    col(
        "ServiceAccounts",
        "string",
        "ServiceAccounts in the roleBinding",
        1,
    ),
];

pub(crate) static CLUSTER_ROLE_BINDING_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Role",
        "string",
        "RoleRef can only reference a ClusterRole in the global namespace. If the RoleRef cannot be resolved, the Authorizer must return an error. This field is immutable.",
        0,
    ),
    AGE,
    col("Users", "string", "Users in the clusterRoleBinding", 1),
    col("Groups", "string", "Groups in the clusterRoleBinding", 1),
    col(
        "ServiceAccounts",
        "string",
        "ServiceAccounts in the clusterRoleBinding",
        1,
    ),
];

/// Cells shared by RoleBindings and ClusterRoleBindings.
pub(crate) fn binding_cells(obj: Obj<'_>, now: Timestamp) -> Vec<Value> {
    let mut users = Vec::new();
    let mut groups = Vec::new();
    let mut sas = Vec::new();
    for sub in obj.arr(&["subjects"]).iter().map(Obj) {
        let name = sub.str(&["name"]);
        match sub.str(&["kind"]) {
            "ServiceAccount" => sas.push(format!("{}/{name}", sub.str(&["namespace"]))),
            "User" => users.push(name.to_string()),
            "Group" => groups.push(name.to_string()),
            _ => {}
        }
    }
    let role = format!(
        "{}/{}",
        obj.str(&["roleRef", "kind"]),
        obj.str(&["roleRef", "name"])
    );
    vec![
        s(obj.name()),
        s(role),
        s(obj.age(now)),
        s(users.join(", ")),
        s(groups.join(", ")),
        s(sas.join(", ")),
    ]
}
