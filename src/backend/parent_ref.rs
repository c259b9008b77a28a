//! A Gateway API `parentRef`: how a route names its Gateway, and how a route's or a policy's
//! status names the parent it reports on.

use serde::{Deserialize, Serialize};

pub(super) const GROUP: &str = "gateway.networking.k8s.io";
pub(super) const GATEWAY: &str = "Gateway";

/// A reference to the Gateway (or one listener of it) a route attaches to.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ParentReference {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub section_name: Option<String>,
}

impl ParentReference {
    /// Whether two references name the same parent, seen from a route in `namespace`.
    pub(super) fn same_parent(&self, other: &ParentReference, namespace: &str) -> bool {
        let key = |p: &ParentReference| {
            (
                p.group.clone().unwrap_or_else(|| GROUP.into()),
                p.kind.clone().unwrap_or_else(|| GATEWAY.into()),
                p.namespace.clone().unwrap_or_else(|| namespace.into()),
                p.name.clone(),
                p.section_name.clone(),
            )
        };
        key(self) == key(other)
    }

    pub(super) fn is_gateway(&self) -> bool {
        self.group.as_deref().unwrap_or(GROUP) == GROUP && self.kind.as_deref().unwrap_or(GATEWAY) == GATEWAY
    }
}
