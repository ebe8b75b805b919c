//! State types: what the provider layer reports about live resources. Plans compare these
//! (normalized, see [`crate::plan::normalize`]) with the desired [`Resource`](super::Resource)s.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::Kind;

/// Identifying attributes of a live resource (`id`, `arn`, `name`, `uri`, `endpoint`…).
pub type Attrs = BTreeMap<String, String>;

/// A resource found in AWS by its tags.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Observed {
    /// Logical id: from its `slipway:id` tag, or from its name for kinds AWS cannot tag.
    pub id: String,
    /// The kind it was found as.
    pub kind: Kind,
    /// The spec as AWS reports it, with physical ids still in place. Fields AWS did not
    /// report are absent and therefore not compared.
    pub spec: Value,
    /// Identifying attributes (`id`, `arn`, `name`, `uri`, `endpoint`…): what references
    /// to it resolve to.
    pub attrs: Attrs,
}
