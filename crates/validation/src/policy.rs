//! Stub.
use crate::util::Errs;
use serde_json::Value;
pub fn validate_limit_range(_obj: &Value, _old: Option<&Value>) -> Errs { Errs::new() }
pub fn validate_resource_quota(_obj: &Value, _old: Option<&Value>) -> Errs { Errs::new() }
pub fn validate_pdb(_obj: &Value, _old: Option<&Value>) -> Errs { Errs::new() }
pub fn validate_priority_class(_obj: &Value, _old: Option<&Value>) -> Errs { Errs::new() }
pub fn validate_hpa(_obj: &Value, _old: Option<&Value>) -> Errs { Errs::new() }
