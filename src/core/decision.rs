//! The decisions a reconcile takes from what its steps found: whether the route is withheld (fail
//! closed), which outcome and URL the status reports once an external system has had its say, and
//! when the API is looked at again.

use std::time::Duration;

use crate::core::api_keys::Plan;
use crate::core::policy::Enforcement;
use crate::core::status::{Outcome, ReadyReason};
use crate::core::url::PublishedUrl;

/// A fully converged API is looked at again after this long (drift nobody reported).
pub const RESYNC: Duration = Duration::from_secs(3600);
/// What a person must fix (a conflict, a foreign object) is checked again after this long.
pub const BLOCKED_RECHECK: Duration = Duration::from_secs(300);

/// Why the API's route is withheld under `APIKEY_UNENFORCEABLE=FailClosed`; `None` when it is
/// published. `api_keys`: what became of the object that requires a token.
pub fn withheld(plan: Option<&Plan>, api_keys: &Enforcement, fail_closed: bool) -> Option<String> {
    match plan {
        Some(Plan::Unenforceable { why, closed: true }) => Some(why.clone()),
        Some(Plan::Jwt { .. }) if fail_closed && *api_keys != Enforcement::Enforced => {
            Some("the object that requires a token is not in place".to_owned())
        }
        _ => None,
    }
}

/// The `Ready` message of a withheld API.
pub fn withheld_message(why: &str) -> String {
    format!(
        "apiKeyVerification is requested but cannot be enforced ({why}): the route is not published \
         (APIKEY_UNENFORCEABLE=FailClosed)"
    )
}

/// What an external system (APIM) said of an API whose route is in place.
#[derive(Clone, Copy, Debug)]
pub struct External<'s> {
    /// Why the system does not serve it (yet).
    pub blocked: Option<(ReadyReason, &'s str)>,
    /// The URL it serves the API at.
    pub url: Option<&'s PublishedUrl>,
}

/// The outcome and URL the status reports: an external system's verdict and URL when there is
/// one, else the route's outcome at the gateway's URL.
pub fn published<'a>(
    outcome: Outcome<'a>,
    external: Option<External<'_>>,
    gateway_url: impl FnOnce() -> Option<PublishedUrl>,
) -> (Outcome<'a>, Option<PublishedUrl>) {
    match external {
        Some(External { blocked: Some((reason, message)), .. }) => {
            (Outcome::Blocked { reason, message: message.to_owned() }, None)
        }
        Some(External { blocked: None, url }) => (outcome, url.cloned()),
        None => (outcome, gateway_url()),
    }
}

/// When the API is reconciled again, unless something it watches changes first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Requeue {
    /// Only a change of the API brings it back (an invalid spec).
    AwaitChange,
    After(Duration),
}

/// The next look at an API whose steps all succeeded: an external system's own cadence, else
/// never for an invalid spec, soon for what a person must fix, hourly otherwise.
pub fn requeue(reason: ReadyReason, external: Option<Duration>) -> Requeue {
    match (reason, external) {
        (ReadyReason::InvalidSpec, None) => Requeue::AwaitChange,
        (_, Some(after)) => Requeue::After(after),
        (ReadyReason::RouteConflict | ReadyReason::NotOwned, None) => Requeue::After(BLOCKED_RECHECK),
        _ => Requeue::After(RESYNC),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::api_keys::Location;
    use crate::core::fixtures::short_api;
    use crate::core::status::RouteState;

    #[test]
    fn a_route_is_withheld_only_when_a_required_token_cannot_be_enforced_and_it_fails_closed() {
        let jwt = Plan::Jwt { issuer: "https://idp".into(), location: Location::Default };
        let failed = Enforcement::Failed("Forbidden".into());
        assert_eq!(withheld(None, &failed, true), None);
        assert_eq!(withheld(Some(&jwt), &Enforcement::Enforced, true), None);
        assert!(withheld(Some(&jwt), &failed, true).is_some());
        assert_eq!(withheld(Some(&jwt), &failed, false), None, "fail open publishes");
        let closed = Plan::Unenforceable { why: "no issuer".into(), closed: true };
        assert_eq!(withheld(Some(&closed), &Enforcement::Enforced, true).as_deref(), Some("no issuer"));
        let open = Plan::Unenforceable { why: "no issuer".into(), closed: false };
        assert_eq!(withheld(Some(&open), &Enforcement::Enforced, false), None);
        assert!(withheld_message("no issuer").contains("(no issuer)"));
    }

    #[test]
    fn the_external_system_decides_outcome_and_url_when_there_is_one() {
        let api = short_api();
        let applied = || Outcome::Applied { api: &api, route_uid: None, route: RouteState::Accepted };
        let at = |url: &str| PublishedUrl { url: url.into(), developer_ui: None, ip: None };
        let gateway = || Some(at("https://gateway/p"));
        let (outcome, url) = published(applied(), None, gateway);
        assert_eq!((outcome, url), (applied(), gateway()));
        let apim = at("https://apim/p");
        let served = External { blocked: None, url: Some(&apim) };
        assert_eq!(published(applied(), Some(served), gateway), (applied(), Some(apim.clone())));
        let refused = External { blocked: Some((ReadyReason::NotOwned, "not ours")), url: Some(&apim) };
        let (outcome, url) = published(applied(), Some(refused), gateway);
        assert_eq!(outcome, Outcome::Blocked { reason: ReadyReason::NotOwned, message: "not ours".into() });
        assert_eq!(url, None, "a blocked API has no URL from the system");
    }

    #[test]
    fn requeue_follows_the_reason_unless_the_external_system_sets_its_cadence() {
        assert_eq!(requeue(ReadyReason::InvalidSpec, None), Requeue::AwaitChange);
        assert_eq!(requeue(ReadyReason::RouteConflict, None), Requeue::After(BLOCKED_RECHECK));
        assert_eq!(requeue(ReadyReason::NotOwned, None), Requeue::After(BLOCKED_RECHECK));
        assert_eq!(requeue(ReadyReason::Exposed, None), Requeue::After(RESYNC));
        let apim = Duration::from_secs(600);
        assert_eq!(requeue(ReadyReason::InvalidSpec, Some(apim)), Requeue::After(apim));
    }
}
