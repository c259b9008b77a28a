//! The named steps of one reconcile of a live ExposedAPI, in order: scrape (metrics backend) →
//! guard (policy objects, before the route) → publish (route backend, or withheld) → external
//! (a system outside the cluster) → status (pure). Each returns what it found, the conditions it
//! contributes and the failure to retry with backoff; a failed step does not stop the later ones,
//! so the status always says what happened.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::Resource;

use super::context::Context;
use super::dereference::{self, Facts};
use super::engine::{self, Engaged};
use super::error::ReconcileError;
use super::events::Journal;
use super::expose::expose;
use super::external::Synced;
use super::prune::{self, Routes};
use super::scraping;
use crate::backend::BuildError;
use crate::backend::plan::{Desired, GatewayFacts, plan};
use crate::backend::policy_engine::{PolicyEngine, Verdict};
use crate::config::Unenforceable;
use crate::core::api_keys::Plan;
use crate::core::decision::{self, External};
use crate::core::gateway_class::{ClassFeatures, Enforcer};
use crate::core::policy::{self, Enforcement};
use crate::core::status::{
    ConditionSpec, MetricsReason, Outcome, ReadyCondition, ReadyReason, assemble, desired_status, progress_condition,
    spec_hash,
};
use crate::core::url::published_url;
use crate::core::validation::{InvalidSpec, ValidApi, validate};
use crate::exposed_api::{ExposedAPI, ExposedApiStatus};

/// What a step found, and the failure to report once the status is written.
pub(super) struct Step<T> {
    pub value: T,
    pub failure: Option<ReconcileError>,
}

impl<T> Step<T> {
    fn ok(value: T) -> Self {
        Self { value, failure: None }
    }
}

/// Folds the steps' failures: the first one is returned after the status is written.
#[derive(Default)]
pub(super) struct Fold(Option<ReconcileError>);

impl Fold {
    pub(super) fn take<T>(&mut self, step: Step<T>) -> T {
        if self.0.is_none() {
            self.0 = step.failure;
        }
        step.value
    }

    /// Whether a step failed (what it should have cleaned up may still be there).
    pub(super) fn failed(&self) -> bool {
        self.0.is_some()
    }

    /// The first failure, to return once the status is written.
    pub(super) fn into_failure(self) -> Option<ReconcileError> {
        self.0
    }
}

/// What every step of one reconcile reads: the API, its validation, and who serves its Gateway.
pub(super) struct Run<'a> {
    pub ctx: &'a Context,
    pub api: &'a ExposedAPI,
    pub validated: Result<ValidApi, InvalidSpec>,
    /// The implementation behind the HTTPRoute's Gateway, as its GatewayClass reports it.
    pub class: Option<ClassFeatures>,
    /// Who enforces Istio's policy objects on that Gateway.
    pub gateway: Enforcer,
    /// The implementation's own policy engine, when it has one.
    pub engine: Option<Arc<dyn PolicyEngine>>,
    /// The plan of a valid API: every object wanted, and whether the route is withheld.
    pub desired: Option<Desired>,
    pub journal: Journal,
}

impl<'a> Run<'a> {
    /// Reads who serves the API's Gateway and plans it; fails only on a defect (an object that
    /// cannot be encoded).
    pub(super) fn new(ctx: &'a Context, api: &'a ExposedAPI, namespace: &str) -> Result<Self, BuildError> {
        let validated = validate(api, namespace);
        let class = dereference::implementation(ctx, namespace);
        let gateway = Enforcer::of(class.as_ref(), &ctx.config.policy.istio_gateway_controllers());
        let engine = ctx.backends.engine_for(class.as_ref()).cloned();
        let facts = GatewayFacts {
            class: class.as_ref(),
            enforcer: &gateway,
            engine: engine.as_deref(),
            external: ctx.external.is_some(),
        };
        let desired = match &validated {
            Ok(valid) => Some(plan(valid, &api.spec, (&ctx.config, &ctx.backends), facts)?),
            Err(_) => None,
        };
        Ok(Self { ctx, api, validated, class, gateway, engine, desired, journal: Journal::default() })
    }

    /// The valid API and its plan.
    fn planned(&self) -> Option<(&ValidApi, &Desired)> {
        Some((self.validated.as_ref().ok()?, self.desired.as_ref()?))
    }

    fn api_keys(&self) -> Option<&Plan> {
        self.desired.as_ref()?.api_keys.as_ref()
    }

    fn fail_closed(&self) -> bool {
        self.ctx.config.policy.api_key_unenforceable == Unenforceable::FailClosed
    }
}

/// Metrics scraping first, in the reference's order; its failure does not keep the route back.
pub(super) async fn scrape(run: &Run<'_>) -> Step<Option<ConditionSpec>> {
    let Some((valid, desired)) = run.planned() else { return Step::ok(None) };
    match scraping::configure(run.ctx, run.api, (valid, desired.monitor.as_ref()), &run.journal).await {
        Ok(condition) => Step::ok(condition),
        Err(e) => Step { value: Some(MetricsReason::Failed.condition(e.to_string())), failure: Some(e) },
    }
}

/// The policy objects of the Gateway's engine, before the route, so that a required token is in
/// force before it is live; and what the engine says of them.
#[derive(Default)]
pub(super) struct Guard {
    pub verdict: Option<Verdict>,
    /// Some are in a gateway namespace (they need the finalizer).
    pub placed: bool,
}

impl Guard {
    /// Whether the object requiring a token is in place.
    fn api_keys(&self) -> &Enforcement {
        self.verdict.as_ref().map_or(&Enforcement::Enforced, |v| &v.api_keys)
    }
}

pub(super) async fn guard(run: &Run<'_>) -> Result<Step<Guard>, ReconcileError> {
    let (Some((valid, desired)), Some(engine)) = (run.planned(), &run.engine) else {
        return Ok(Step::ok(Guard::default()));
    };
    let planned = (engine.as_ref(), desired.engine.as_slice());
    let Engaged { verdict, failure, placed } =
        engine::engage(run.ctx, run.api, (valid, run.class.as_ref()), planned, &run.journal).await?;
    Ok(Step { value: Guard { verdict: Some(verdict), placed }, failure })
}

/// The route: withheld while a required token cannot be enforced (fail closed), else applied; then
/// what the Gateway and the policy engine say of it.
pub(super) async fn publish<'v>(run: &'v Run<'_>, guard: &Guard) -> Step<Outcome<'v>> {
    let applied = |e: ReconcileError| Step {
        value: Outcome::Blocked { reason: ReadyReason::ApplyFailed, message: e.to_string() },
        failure: Some(e),
    };
    let Some((valid, desired)) = run.planned() else {
        let message = run.validated.as_ref().err().map(ToString::to_string).unwrap_or_default();
        return Step::ok(Outcome::Blocked { reason: ReadyReason::InvalidSpec, message });
    };
    let at_apply = || decision::withheld(run.api_keys(), guard.api_keys(), run.fail_closed());
    let withheld = desired.withheld.clone().or_else(at_apply);
    if let Some(why) = withheld {
        // The prune removes the routes of every kind.
        let message = decision::withheld_message(&why);
        return Step::ok(Outcome::Blocked { reason: ReadyReason::SecurityPolicyNotEnforceable, message });
    }
    match expose(run.ctx, run.api, (valid, &desired.route), &run.journal).await {
        Ok(outcome) => {
            let not_in_force = guard.verdict.as_ref().and_then(|v| v.not_in_force.as_ref());
            let gateway = dereference::gateway_state(run.ctx, &valid.namespace);
            Step::ok(outcome.and_gateway(gateway).and_policies(not_in_force))
        }
        Err(e) => applied(e),
    }
}

/// The one prune (`prune`): what the plan does not want goes; the routes of other kinds only once
/// this one is applied or withheld.
pub(super) async fn prune(run: &Run<'_>, outcome: &Outcome<'_>) -> Step<()> {
    let Some(planned) = run.planned() else { return Step::ok(()) };
    let routes = match outcome {
        Outcome::Applied { .. } => Routes::Applied,
        Outcome::Blocked { reason: ReadyReason::SecurityPolicyNotEnforceable, .. } => Routes::Withheld,
        Outcome::Blocked { .. } => Routes::Unsettled,
    };
    match prune::prune(run.ctx, run.api, planned, routes, &run.journal).await {
        Ok(()) => Step::ok(()),
        Err(e) => Step { value: (), failure: Some(e) },
    }
}

/// The external system, once the route is in place.
pub(super) async fn external(
    run: &Run<'_>,
    outcome: &Outcome<'_>,
    previous: Option<&ExposedApiStatus>,
) -> Option<Step<Synced>> {
    let (Some(system), Ok(valid), Outcome::Applied { .. }) = (&run.ctx.external, &run.validated, outcome) else {
        return None;
    };
    let mut synced = system.sync(run.ctx, run.api, valid, previous, &run.journal).await;
    let failure = synced.failure.take();
    Some(Step { value: synced, failure })
}

/// The status the API should have, and what its Event tells.
pub(super) struct Decided {
    pub status: ExposedApiStatus,
    pub ready: ReadyCondition,
    pub policies: Vec<ConditionSpec>,
    /// The external system's own cadence.
    pub requeue: Option<Duration>,
}

/// The status, from the outcome and the facts (pure but for the clock, read once).
pub(super) fn status(
    run: &Run<'_>,
    (outcome, guard, synced): (Outcome<'_>, &Guard, Option<Synced>),
    facts: &Facts,
    scraping: Option<&ConditionSpec>,
    previous: Option<&ExposedApiStatus>,
) -> Decided {
    let external = synced.as_ref().map(|s| External {
        blocked: s.blocked.as_ref().map(|(reason, message)| (*reason, message.as_str())),
        url: s.url.as_ref(),
    });
    let gateway_url = || run.validated.as_ref().ok().and_then(|v| published_url(v, facts.gateway.as_ref()));
    let (outcome, url) = decision::published(outcome, external, gateway_url);
    let (api_status, implementation, ready) =
        desired_status(&outcome, url.as_ref(), facts.implementation_ready, previous);
    let policies = policy_conditions(run, guard, synced.as_ref());
    let conditions: Vec<ConditionSpec> = std::iter::once(ConditionSpec::from(&ready))
        .chain(progress_condition(&ready))
        .chain(synced.as_ref().map(|s| s.condition.clone()))
        .chain(scraping.cloned())
        .chain(policies.iter().cloned())
        .collect();
    let main_resource = !run.ctx.discovered.exposed_api_status_subresource;
    // Without a status subresource every status write bumps the generation, so no
    // observedGeneration could ever equal it (kstatus tools would wait forever): the status names
    // the spec it describes by its hash instead.
    let generation = if main_resource { None } else { run.api.meta().generation };
    let mut status = assemble(api_status, implementation, &conditions, generation, previous, Time(Timestamp::now()));
    status.observed_spec_hash = main_resource.then(|| spec_hash(&run.api.spec));
    let requeue = synced.as_ref().map(|s| s.requeue);
    if let Some(record) = synced.and_then(|s| s.record) {
        status.apim = Some(record);
    }
    Decided { status, ready, policies, requeue }
}

/// Whether the API has something garbage collection cannot remove: pods it annotates, objects in
/// a gateway namespace, an API in an external system.
pub(super) fn needs_finalizer(run: &Run<'_>, guard: &Guard, decided: &Decided) -> bool {
    scraping::needs_finalizer(run.ctx, run.api) || guard.placed || decided.status.apim.is_some()
}

/// Every requested policy is reported, enforced or not, by the one that enforces it: the external
/// system, or the engine of the Gateway; with neither, the route carries what it can and the rest
/// is not supported.
fn policy_conditions(run: &Run<'_>, guard: &Guard, synced: Option<&Synced>) -> Vec<ConditionSpec> {
    let spec = &run.api.spec;
    if run.validated.is_err() {
        return Vec::new();
    }
    if let (Some(system), Some(synced)) = (&run.ctx.external, synced) {
        return system.policy_conditions(spec, synced);
    }
    if let Some(verdict) = &guard.verdict {
        return verdict.conditions.clone();
    }
    let route = &run.ctx.backends.route;
    let facts = policy::PolicyFacts {
        kind: &route.resource().kind,
        cors_supported: route.cors_supported(),
        implementation: run.class.as_ref(),
        gateway: &run.gateway,
        streaming: run.validated.as_ref().is_ok_and(|v| v.api_type.is_streaming()),
        per_client: run.ctx.config.policy.rate_limit_per_client,
        rate_limit: &Enforcement::Enforced,
        api_keys: run.api_keys(),
        api_key_policy: &Enforcement::Enforced,
        fail_closed: run.fail_closed(),
    };
    policy::conditions(spec, &facts)
}
