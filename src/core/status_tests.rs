use super::*;

fn api() -> ValidApi {
    ValidApi { path: "/c1/x".into(), developer_ui: Some("/c1/docs".into()), ..crate::core::fixtures::short_api() }
}
use jiff::Timestamp;

fn url() -> PublishedUrl {
    PublishedUrl {
        url: "https://20.1.2.3/c1/x".into(),
        developer_ui: Some("https://20.1.2.3/c1/docs".into()),
        ip: Some("20.1.2.3".into()),
    }
}

fn at(seconds: i64) -> Time {
    Time(Timestamp::from_second(seconds).unwrap())
}

#[test]
fn applied_with_url_and_ready_is_exposed() {
    let api = api();
    let outcome = Outcome::Applied { api: &api, route_uid: Some("vs-uid-0001".into()), route: RouteState::Accepted };
    let (api_status, implementation, ready) = desired_status(&outcome, Some(&url()), true, None);
    let api_status = api_status.unwrap();
    assert_eq!(api_status.uid.as_deref(), Some("vs-uid-0001"));
    assert_eq!(api_status.url.as_deref(), Some("https://20.1.2.3/c1/x"));
    assert_eq!(api_status.developer_ui.as_deref(), Some("https://20.1.2.3/c1/docs"));
    assert_eq!(api_status.ip.as_deref(), Some("20.1.2.3"));
    assert_eq!(api_status.port, Some(8080));
    assert!(implementation.ready);
    assert_eq!((ready.status, ready.reason), (true, ReadyReason::Exposed));
}

#[test]
fn reasons_follow_address_and_readiness() {
    let api = api();
    let outcome = Outcome::Applied { api: &api, route_uid: None, route: RouteState::Accepted };
    let (s, _, ready) = desired_status(&outcome, None, true, None);
    assert_eq!(ready.reason, ReadyReason::AddressPending);
    assert_eq!(s.unwrap().url, None, "golden G6: no url, developerUI or ip without an address");
    let (_, implementation, ready) = desired_status(&outcome, Some(&url()), false, None);
    assert_eq!(ready.reason, ReadyReason::ImplementationNotReady);
    assert!(!implementation.ready, "readiness is reported both ways");
}

#[test]
fn blocked_keeps_the_previous_api_status() {
    let previous = ExposedApiStatus {
        api_status: Some(ApiStatus { url: Some("https://old/x".into()), ..Default::default() }),
        ..Default::default()
    };
    let outcome = Outcome::Blocked { reason: ReadyReason::RouteConflict, message: "other.ns".into() };
    let (s, _, ready) = desired_status(&outcome, Some(&url()), true, Some(&previous));
    assert_eq!(s.unwrap().url.as_deref(), Some("https://old/x"));
    assert_eq!((ready.status, ready.reason, ready.message.as_str()), (false, ReadyReason::RouteConflict, "other.ns"));
}

#[test]
fn transition_time_only_moves_when_status_flips() {
    let ready = |status, reason| [ConditionSpec::from(&ReadyCondition { status, reason, message: "m".into() })];
    let implementation = ImplementationStatus { ready: true };
    let first =
        assemble(None, implementation.clone(), &ready(false, ReadyReason::AddressPending), Some(1), None, at(100));
    let pending = ready(false, ReadyReason::ImplementationNotReady);
    let same = assemble(None, implementation.clone(), &pending, Some(1), Some(&first), at(200));
    assert_eq!(same.conditions[0].last_transition_time, at(100));
    let flipped = assemble(None, implementation, &ready(true, ReadyReason::Exposed), Some(1), Some(&same), at(300));
    assert_eq!(flipped.conditions[0].last_transition_time, at(300));
    assert_eq!(flipped.conditions[0].reason, "Exposed");
}

#[test]
fn unchanged_status_needs_no_write() {
    let ready =
        [ConditionSpec::from(&ReadyCondition { status: true, reason: ReadyReason::Exposed, message: "m".into() })];
    let implementation = ImplementationStatus { ready: true };
    let current = assemble(None, implementation.clone(), &ready, Some(1), None, at(1));
    let desired = assemble(None, implementation.clone(), &ready, Some(1), Some(&current), at(2));
    assert!(!needs_write(Some(&current), &desired));
    assert!(needs_write(None, &desired));
    let bumped = assemble(None, implementation, &ready, Some(2), Some(&current), at(2));
    assert!(needs_write(Some(&current), &bumped));
}

#[test]
fn reasons_are_a_closed_documented_set() {
    let mut names: Vec<&str> = ReadyReason::ALL.iter().map(|r| r.as_str()).collect();
    names.extend(MetricsReason::ALL.iter().map(|r| r.as_str()));
    let docs = include_str!("../../docs/design.md");
    for name in names {
        assert!(docs.contains(&format!("`{name}`")), "docs/design.md does not document reason {name}");
    }
}

#[test]
fn an_accepted_route_on_a_gateway_not_programmed_is_not_ready() {
    let api = api();
    let accepted = Outcome::Applied { api: &api, route_uid: None, route: RouteState::Accepted };
    let not_programmed = RouteState::Rejected {
        reason: ReadyReason::GatewayNotProgrammed,
        message: "Gateway canvas/gw is not programmed".into(),
    };
    let ready = |outcome: &Outcome<'_>| desired_status(outcome, Some(&url()), true, None).2;
    let on_broken_gateway = accepted.clone().and_gateway(Some(not_programmed.clone()));
    let condition = ready(&on_broken_gateway);
    assert_eq!((condition.status, condition.reason), (false, ReadyReason::GatewayNotProgrammed));
    assert_eq!(progress_condition(&condition).map(|c| c.type_), Some(STALLED));
    let waiting = accepted.clone().and_gateway(Some(RouteState::Pending { message: "not yet".into() }));
    assert_eq!(ready(&waiting).reason, ReadyReason::RoutePending);
    assert_eq!(ready(&accepted.clone().and_gateway(Some(RouteState::Accepted))).reason, ReadyReason::Exposed);
    assert_eq!(ready(&accepted.clone().and_gateway(None)).reason, ReadyReason::Exposed, "VirtualServices");
    // The route's own rejection comes first.
    let refused = RouteState::Rejected { reason: ReadyReason::RouteNotAccepted, message: "no".into() };
    let both = Outcome::Applied { api: &api, route_uid: None, route: refused }.and_gateway(Some(not_programmed));
    assert_eq!(ready(&both).reason, ReadyReason::RouteNotAccepted);
}

#[test]
fn a_policy_not_in_force_keeps_an_applied_route_from_ready() {
    use crate::core::status::NotInForce;
    let api = api();
    let accepted = Outcome::Applied { api: &api, route_uid: None, route: RouteState::Accepted };
    let ready = |outcome: &Outcome<'_>| desired_status(outcome, Some(&url()), true, None).2;
    assert_eq!(ready(&accepted.clone().and_policies(None)).reason, ReadyReason::Exposed);
    let pending = accepted.clone().and_policies(Some(&NotInForce::Pending("SecurityPolicy api not yet".into())));
    let condition = ready(&pending);
    assert_eq!((condition.status, condition.reason), (false, ReadyReason::PolicyPending));
    assert_eq!(progress_condition(&condition).map(|c| c.type_), Some(RECONCILING));
    let refused = accepted.clone().and_policies(Some(&NotInForce::Refused("Invalid".into())));
    assert_eq!(ready(&refused).reason, ReadyReason::PolicyNotAccepted);
    assert_eq!(progress_condition(&ready(&refused)).map(|c| c.type_), Some(STALLED));
    // Blocked stays blocked: nothing is in place to be ready.
    let blocked = Outcome::Blocked { reason: ReadyReason::NotOwned, message: "foreign".into() };
    assert_eq!(blocked.clone().and_policies(Some(&NotInForce::Refused("x".into()))), blocked);
}
