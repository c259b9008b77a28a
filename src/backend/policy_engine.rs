//! The policy-engine role of the publishing contract: the one producer of an API's policy objects
//! and of its policy conditions on one gateway implementation.
//!
//! An engine is pure. From a valid API, the policy settings and the route it targets it builds the
//! objects it wants; from what the controller observed of them (the cached object, its `status`, a
//! failed write, a foreign object of the name) it says what each requested policy's condition is,
//! whether the API may be called `Ready`, and whether a required token is in force. The engine
//! says where its objects live ([`Placement`]): controlled by the ExposedAPI in its namespace
//! (Envoy Gateway's; garbage collection removes them), or labelled for it in the gateway's
//! namespace, with shared objects they need first (Istio's; a finalizer releases them). The
//! controller does the I/O for both: it applies what differs, never touches an object of the name
//! that is not the API's, prunes the API's objects the plan no longer wants, and releases
//! gateway-namespace objects on deletion.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::{ApiResource, DynamicObject};

use super::BuildError;
use crate::config::PolicyConfig;
use crate::core::api_keys::Plan;
use crate::core::gateway_class::ClassFeatures;
use crate::core::ownership::is_controlled_by;
use crate::core::policy::Enforcement;
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
    /// The implementation behind that Gateway, as its GatewayClass reports it (`None`: a
    /// VirtualService, or not known).
    pub implementation: Option<&'a ClassFeatures>,
}

/// Where an engine's objects live, and so how they belong to the API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// In the API's namespace, controlled by the ExposedAPI: garbage collection removes them.
    Owned,
    /// In the gateway's namespace, where no owner reference can reach: each is labelled as
    /// written for the API, a finalizer keeps the API until they are released, and the shared
    /// objects they need are kept while any API needs them (the orphan sweep).
    GatewayNamespace,
}

/// An object an engine may have written for an API, by name (never listed): what the prune and
/// the release on deletion look up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slot {
    pub resource: ApiResource,
    pub namespace: String,
    pub name: String,
}

/// Why a desired object is not what the cluster has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure<'a> {
    /// An object of its name (or of the shared object it needs) is not the API's: left untouched.
    NotOwned(&'a str),
    /// Writing it (or the shared object it needs) failed; it is retried with backoff.
    Failed(&'a str),
}

impl<'a> Failure<'a> {
    pub fn message(self) -> &'a str {
        match self {
            Self::NotOwned(why) | Self::Failed(why) => why,
        }
    }

    /// The state of a policy carried by the object.
    pub fn enforcement(self) -> Enforcement {
        match self {
            Self::NotOwned(why) => Enforcement::NotOwned(why.to_owned()),
            Self::Failed(why) => Enforcement::Failed(why.to_owned()),
        }
    }
}

/// One desired object and what became of it.
#[derive(Clone, Copy, Debug)]
pub struct Observed<'a> {
    pub desired: &'a DynamicObject,
    /// The object as the cache (or the operator's own write) has it; `None` before it exists.
    pub current: Option<&'a DynamicObject>,
    /// Why it is not in place as desired.
    pub failure: Option<Failure<'a>>,
}

/// What an engine says of an API's policies.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    /// The condition of every requested policy, in a stable order.
    pub conditions: Vec<ConditionSpec>,
    /// Why the API is not `Ready` although its route is; `None` when every requested policy is
    /// in force.
    pub not_in_force: Option<NotInForce>,
    /// Whether the object requiring a token is in place (`Enforced` when none is requested): with
    /// `APIKEY_UNENFORCEABLE=FailClosed` the route is withheld until it is.
    pub api_keys: Enforcement,
}

/// One gateway implementation's way of enforcing the ExposedAPI policies.
pub trait PolicyEngine: Send + Sync {
    /// The implementation, as conditions and Events name it (e.g. "Envoy Gateway").
    fn name(&self) -> &'static str;

    /// The kinds of the objects it writes (shared ones included): watched and cached where they
    /// are placed, and pruned.
    fn kinds(&self) -> Vec<ApiResource>;

    /// Where its objects live.
    fn placement(&self) -> Placement {
        Placement::Owned
    }

    /// Whether an existing object of a desired object's name is the API's (with `uid`) to write
    /// or remove; by default, whether the API controls it.
    fn is_ours(&self, existing: &ObjectMeta, uid: &str) -> bool {
        is_controlled_by(existing, uid)
    }

    /// The shared object of the gateway namespace that a desired object needs in place first.
    fn shared(&self, desired: &DynamicObject) -> Result<Option<DynamicObject>, BuildError> {
        let _ = desired;
        Ok(None)
    }

    /// Whether an existing object of a shared object's name is the operator's shared object.
    fn is_shared(&self, existing: &ObjectMeta, shared: &DynamicObject) -> bool {
        let _ = (existing, shared);
        false
    }

    /// Every object it may have written for the API `api_name` in `api_namespace` whose route is
    /// `route_name`; by default one of each kind, named as the route, in the API's namespace.
    fn slots(&self, api_namespace: &str, api_name: &str, route_name: &str) -> Vec<Slot> {
        let _ = api_name;
        let slot = |resource| Slot { resource, namespace: api_namespace.to_owned(), name: route_name.to_owned() };
        self.kinds().into_iter().map(slot).collect()
    }

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

/// The declared kind of an engine's object (one of `kinds`), by its kind and API version.
pub fn declared_kind<'k>(kinds: &'k [ApiResource], object: &DynamicObject) -> Option<&'k ApiResource> {
    let types = object.types.as_ref()?;
    kinds.iter().find(|k| k.kind == types.kind && k.api_version == types.api_version)
}
