//! Ownership of the objects the operator writes: the ExposedAPI is their controller owner, so
//! deleting it lets Kubernetes garbage-collect them, and anything it does not control is left alone.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use crate::core::validation::ValidApi;

/// The controller ownerReference the reference operator (kopf `adopt`) sets, field for field.
pub fn owner_reference(api: &ValidApi) -> Option<OwnerReference> {
    Some(OwnerReference {
        api_version: "oda.tmforum.org/v1".into(),
        kind: "ExposedAPI".into(),
        name: api.name.clone(),
        uid: api.uid.clone()?,
        controller: Some(true),
        block_owner_deletion: Some(true),
    })
}

/// Metadata of a child: same name and namespace as the ExposedAPI, its labels, and the owner.
pub fn child_metadata(api: &ValidApi) -> ObjectMeta {
    ObjectMeta {
        name: Some(api.name.clone()),
        namespace: Some(api.namespace.clone()),
        labels: (!api.labels.is_empty()).then(|| api.labels.clone()),
        owner_references: owner_reference(api).map(|r| vec![r]),
        ..Default::default()
    }
}

/// Whether an object's controller ownerReference points at the ExposedAPI with this uid.
pub fn is_controlled_by(meta: &ObjectMeta, uid: &str) -> bool {
    controller_of(meta).is_some_and(|r| r.uid == uid)
}

/// The controller ownerReference of an object, if any.
pub fn controller_of(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references.as_ref()?.iter().find(|r| r.controller == Some(true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controlled_only_through_a_controller_reference_with_the_same_uid() {
        let owner = |uid: &str, controller| OwnerReference { uid: uid.into(), controller, ..Default::default() };
        let meta = |refs| ObjectMeta { owner_references: Some(refs), ..Default::default() };
        assert!(is_controlled_by(&meta(vec![owner("u1", Some(true))]), "u1"));
        assert!(!is_controlled_by(&meta(vec![owner("u1", None)]), "u1"));
        assert!(!is_controlled_by(&meta(vec![owner("u2", Some(true))]), "u1"));
        assert!(!is_controlled_by(&ObjectMeta::default(), "u1"));
    }
}
