//! The path and query parameters of the REST operations, with their types and descriptions.

/// Where a parameter goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum In {
    Path,
    Query,
}

/// One operation parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Param {
    pub name: &'static str,
    pub location: In,
    /// JSON type: `string`, `integer` or `boolean`.
    pub ty: &'static str,
    pub description: String,
    pub required: bool,
}

/// A required path parameter.
pub(crate) fn path(name: &'static str, description: String) -> Param {
    Param {
        name,
        location: In::Path,
        ty: "string",
        description,
        required: true,
    }
}

/// The `{name}` path parameter of `kind`.
pub(crate) fn name_of(kind: &str) -> Param {
    path("name", format!("name of the {kind}"))
}

/// The `{namespace}` path parameter.
pub(crate) fn namespace() -> Param {
    path(
        "namespace",
        "object name and auth scope, such as for teams and projects".into(),
    )
}

/// The query parameters of a list or watch (at operation level for lists, path level for watches).
pub(crate) const LIST: &[&str] = &[
    "allowWatchBookmarks",
    "continue",
    "fieldSelector",
    "labelSelector",
    "limit",
    "resourceVersion",
    "resourceVersionMatch",
    "sendInitialEvents",
    "timeoutSeconds",
    "watch",
];
/// The query parameters of create and replace.
pub(crate) const WRITE: &[&str] = &["dryRun", "fieldManager", "fieldValidation"];
/// The query parameters of patch.
pub(crate) const PATCH: &[&str] = &["dryRun", "force", "fieldManager", "fieldValidation"];
/// The query parameters of delete.
pub(crate) const DELETE: &[&str] = &[
    "gracePeriodSeconds",
    "ignoreStoreReadErrorWithClusterBreakingPotential",
    "orphanDependents",
    "propagationPolicy",
    "dryRun",
];
/// The query parameters of deletecollection.
pub(crate) const DELETE_COLLECTION: &[&str] = &[
    "gracePeriodSeconds",
    "ignoreStoreReadErrorWithClusterBreakingPotential",
    "orphanDependents",
    "propagationPolicy",
    "dryRun",
    "labelSelector",
    "fieldSelector",
    "resourceVersion",
    "resourceVersionMatch",
    "sendInitialEvents",
    "timeoutSeconds",
    "limit",
    "continue",
];
/// The query parameters of reading a pod's log.
pub(crate) const LOG: &[&str] = &[
    "container",
    "follow",
    "insecureSkipTLSVerifyBackend",
    "limitBytes",
    "previous",
    "sinceSeconds",
    "stream",
    "tailLines",
    "timestamps",
];
/// The query parameters of exec.
pub(crate) const EXEC: &[&str] = &["command", "container", "stderr", "stdin", "stdout", "tty"];
/// The query parameters of attach.
pub(crate) const ATTACH: &[&str] = &["container", "stderr", "stdin", "stdout", "tty"];
/// The query parameters of port-forward.
pub(crate) const PORT_FORWARD: &[&str] = &["ports"];

/// The query parameters named in `names`.
pub(crate) fn queries(names: &[&'static str]) -> Vec<Param> {
    names.iter().map(|n| query(n)).collect()
}

/// One query parameter by name, typed and described as upstream does.
pub(crate) fn query(name: &'static str) -> Param {
    let (ty, description) = describe(name);
    Param {
        name,
        location: In::Query,
        ty,
        description: description.to_string(),
        required: false,
    }
}

fn describe(name: &str) -> (&'static str, &'static str) {
    match name {
        "allowWatchBookmarks" => (
            "boolean",
            "allowWatchBookmarks requests watch events with type \"BOOKMARK\". Servers that do not implement bookmarks may ignore this flag and bookmarks are sent at the server's discretion. If this is not a watch, this field is ignored.",
        ),
        "continue" => (
            "string",
            "The continue option should be set when retrieving more results from the server. Since this value is server defined, clients may only use the continue value from a previous query result with identical query parameters (except for the value of continue).",
        ),
        "dryRun" => (
            "string",
            "When present, indicates that modifications should not be persisted. An invalid or unrecognized dryRun directive will result in an error response and no further processing of the request. Valid values are: - All: all dry run stages will be processed",
        ),
        "fieldManager" => (
            "string",
            "fieldManager is a name associated with the actor or entity that is making these changes. The value must be less than or 128 characters long, and only contain printable characters. It is required for apply requests (application/apply-patch) but optional for non-apply patch types.",
        ),
        "fieldSelector" => (
            "string",
            "A selector to restrict the list of returned objects by their fields. Defaults to everything.",
        ),
        "fieldValidation" => (
            "string",
            "fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields. Valid values are: - Ignore: ignores unknown/duplicate fields. - Warn: responds with a warning for each unknown/duplicate field, but successfully serves the request. - Strict: fails the request on unknown/duplicate fields.",
        ),
        "force" => (
            "boolean",
            "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields owned by other people. Force flag must be unset for non-apply patch requests.",
        ),
        "gracePeriodSeconds" => (
            "integer",
            "The duration in seconds before the object should be deleted. Value must be non-negative integer. The value zero indicates delete immediately. If this value is nil, the default grace period for the specified type will be used.",
        ),
        "ignoreStoreReadErrorWithClusterBreakingPotential" => (
            "boolean",
            "if set to true, it will trigger an unsafe deletion of the resource in case the normal deletion flow fails with a corrupt object error.",
        ),
        "labelSelector" => (
            "string",
            "A selector to restrict the list of returned objects by their labels. Defaults to everything.",
        ),
        "limit" => (
            "integer",
            "limit is a maximum number of responses to return for a list call. If more items exist, the server will set the `continue` field on the list metadata to a value that can be used with the same initial query to retrieve the next set of results.",
        ),
        "orphanDependents" => (
            "boolean",
            "Deprecated: please use the PropagationPolicy. Should the dependent objects be orphaned. Either this field or PropagationPolicy may be set, but not both.",
        ),
        "pretty" => ("string", "If 'true', then the output is pretty printed."),
        "propagationPolicy" => (
            "string",
            "Whether and how garbage collection will be performed. Either this field or OrphanDependents may be set, but not both. Acceptable values are: 'Orphan' - orphan the dependents; 'Background' - allow the garbage collector to delete the dependents in the background; 'Foreground' - a cascading policy that deletes all dependents in the foreground.",
        ),
        "resourceVersion" => (
            "string",
            "resourceVersion sets a constraint on what resource versions a request may be served from. See https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions for details.\n\nDefaults to unset",
        ),
        "resourceVersionMatch" => (
            "string",
            "resourceVersionMatch determines how resourceVersion is applied to list calls. See https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions for details.\n\nDefaults to unset",
        ),
        "sendInitialEvents" => (
            "boolean",
            "`sendInitialEvents=true` may be set together with `watch=true`. In that case, the watch stream will begin with synthetic events to produce the current state of objects in the collection, followed by a \"Bookmark\" event.",
        ),
        "timeoutSeconds" => (
            "integer",
            "Timeout for the list/watch call. This limits the duration of the call, regardless of any activity or inactivity.",
        ),
        "watch" => (
            "boolean",
            "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications. Specify resourceVersion.",
        ),
        "container" => (
            "string",
            "The container for which to stream logs or run the command. Defaults to only container if there is one container in the pod.",
        ),
        "follow" => (
            "boolean",
            "Follow the log stream of the pod. Defaults to false.",
        ),
        "insecureSkipTLSVerifyBackend" => (
            "boolean",
            "insecureSkipTLSVerifyBackend indicates that the apiserver should not confirm the validity of the serving certificate of the backend it is connecting to.",
        ),
        "limitBytes" => (
            "integer",
            "If set, the number of bytes to read from the server before terminating the log output.",
        ),
        "previous" => (
            "boolean",
            "Return previous terminated container logs. Defaults to false.",
        ),
        "sinceSeconds" => (
            "integer",
            "A relative time in seconds before the current time from which to show logs.",
        ),
        "stream" => (
            "string",
            "Specify which container log stream to return to the client. Acceptable values are \"All\", \"Stdout\" and \"Stderr\". If not specified, \"All\" is used.",
        ),
        "tailLines" => (
            "integer",
            "If set, the number of lines from the end of the logs to show.",
        ),
        "timestamps" => (
            "boolean",
            "If true, add an RFC3339 or RFC3339Nano timestamp at the beginning of every line of log output. Defaults to false.",
        ),
        "command" => (
            "string",
            "Command is the remote command to execute. argv array. Not executed within a shell.",
        ),
        "stderr" => (
            "boolean",
            "Redirect the standard error stream of the pod for this call.",
        ),
        "stdin" => (
            "boolean",
            "Redirect the standard input stream of the pod for this call. Defaults to false.",
        ),
        "stdout" => (
            "boolean",
            "Redirect the standard output stream of the pod for this call.",
        ),
        "tty" => (
            "boolean",
            "TTY if true indicates that a tty will be allocated for the exec call. Defaults to false.",
        ),
        "ports" => ("integer", "List of ports to forward."),
        "path" => (
            "string",
            "Path is the URL path to use for the current proxy request.",
        ),
        _ => ("string", ""),
    }
}
