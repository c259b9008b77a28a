//! The policy-engine role of the publishing contract: the one producer of an API's policy objects
//! and of its policy conditions on one gateway implementation.
//!
//! An engine is pure. From a valid API, the policy settings and the route it targets it builds the
//! objects it wants, all in the API's namespace and controlled by the ExposedAPI (garbage
//! collection removes them with it, so no finalizer is needed); from what the controller observed
//! of them (the cached object, its `status`, a failed write) it says what each requested policy's
//! condition is and whether the API may be called `Ready`. The controller does the I/O: it applies
//! what differs, never touches an object of the same name that the API does not control, and prunes
//! the API's objects of the engine's kinds that are no longer desired.

use kube::core::{ApiResource, DynamicObject};

use super::BuildError;
use crate::config::PolicyConfig;
use crate::core::api_keys::Plan;
use crate::core::status::ConditionSpec;
pub use crate::core::status::NotInForce;
use crate::core::validation::ValidApi;
use crate::exposed_api::ExposedApiSpec;

/// The route an engine's policies target (Gateway API `targetRefs`), and the Gateway it attaches
/// to (whose entry in a policy's `status.ancestors` is read).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyTarget<'a> {
    /// `HTTPRoute`.
    pub kind: &'a str,
    /// The route's name, in the API's namespace.
    pub name: &'a str,
    /// The Gateway of the route's `parentRefs`: namespace and name.
    pub gateway: (&'a str, &'a str),
}

/// One desired object and what became of it.
#[derive(Clone, Copy, Debug)]
pub struct Observed<'a> {
    pub desired: &'a DynamicObject,
    /// The object as the cache (or the operator's own write) has it; `None` before it exists.
    pub current: Option<&'a DynamicObject>,
    /// Why it could not be written (a failed apply, or an object the API does not control).
    pub failure: Option<&'a str>,
}

/// What an engine says of an API's policies.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    /// The condition of every requested policy, in a stable order.
    pub conditions: Vec<ConditionSpec>,
    /// Why the API is not `Ready` although its route is; `None` when every requested policy is
    /// in force.
    pub not_in_force: Option<NotInForce>,
}

/// One gateway implementation's way of enforcing the ExposedAPI policies.
pub trait PolicyEngine: Send + Sync {
    /// The implementation, as conditions and Events name it (e.g. "Envoy Gateway").
    fn name(&self) -> &'static str;

    /// The kinds of the objects it writes: watched and cached in the API namespaces, and pruned.
    fn kinds(&self) -> Vec<ApiResource>;

    /// Whether the route itself should carry the API's CORS policy; `false` when this engine's
    /// objects carry it (the route's filter would answer preflights twice, or differently).
    fn route_carries_cors(&self) -> bool {
        true
    }

    /// What is done for the API's `apiKeyVerification` on this implementation (`None` unless
    /// requested): the token it requires, or why it cannot be enforced.
    fn api_keys(&self, spec: &ExposedApiSpec, config: &PolicyConfig) -> Option<Plan>;

    /// The desired objects of a valid API whose route is `target`; none when it requests no
    /// policy this engine enforces. At most one object per kind, named as the route (so the
    /// controller knows, without listing, which object of a kind no longer wanted to remove).
    fn desired(
        &self,
        api: &ValidApi,
        target: &PolicyTarget<'_>,
        config: &PolicyConfig,
    ) -> Result<Vec<DynamicObject>, BuildError>;

    /// The conditions of every requested policy and whether they are all in force, from what was
    /// observed of the desired objects (same order as [`PolicyEngine::desired`] returned them).
    fn verdict(
        &self,
        spec: &ExposedApiSpec,
        api: &ValidApi,
        target: &PolicyTarget<'_>,
        config: &PolicyConfig,
        observed: &[Observed<'_>],
    ) -> Verdict;
}
