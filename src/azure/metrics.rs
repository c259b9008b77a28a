//! ARM requests counted by kind (`oda_api_operator_arm_requests_total{kind="HEAD api"}`): the
//! number ARM's per-principal limits count, so an operator sees the cost of drift checks and
//! imports. One process-wide family, registered with the operator's other metrics.

use std::sync::LazyLock;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

/// Label of the ARM request counter: the kind of request (`GET apis`, `PUT policy`, …).
#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
pub struct RequestKind {
    pub kind: String,
}

pub static ARM_REQUESTS: LazyLock<Family<RequestKind, Counter>> = LazyLock::new(Family::default);

/// `METHOD resource` of an ARM URL: `service`, `apis` (a page of the list), `api`, `policy`,
/// `openidConnectProvider`, or `operation` for the poll of a long-running operation.
pub fn kind(method: &str, url: &str) -> String {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    if query.contains("asyncId=") || path.contains("/operationResults/") {
        return format!("{method} operation");
    }
    let after_service = path.split("/providers/Microsoft.ApiManagement/service/").nth(1).unwrap_or_default();
    let resource = match after_service.split('/').collect::<Vec<_>>().as_slice() {
        [_] => "service",
        [_, "apis"] => "apis",
        [_, "apis", _] => "api",
        [_, "apis", _, "policies", _] => "policy",
        [_, "openidConnectProviders", _] => "openidConnectProvider",
        _ => "other",
    };
    format!("{method} {resource}")
}

/// Counts one request.
pub fn count(method: &str, url: &str) {
    ARM_REQUESTS.get_or_create(&RequestKind { kind: kind(method, url) }).inc();
}

#[cfg(test)]
mod tests {
    use super::kind;

    #[test]
    fn requests_are_counted_by_method_and_resource() {
        let service = "https://arm/subscriptions/s/resourceGroups/g/providers/Microsoft.ApiManagement/service/n";
        assert_eq!(kind("HEAD", &format!("{service}/apis/a?api-version=2024-05-01")), "HEAD api");
        assert_eq!(kind("PUT", &format!("{service}/apis/a/policies/policy?api-version=1")), "PUT policy");
        assert_eq!(kind("GET", &format!("{service}?api-version=1")), "GET service");
        assert_eq!(kind("GET", &format!("{service}/apis?api-version=1&$top=100&$skip=100")), "GET apis");
        assert_eq!(kind("GET", &format!("{service}/apis/a?api-version=1&asyncId=3")), "GET operation");
        assert_eq!(
            kind("PUT", &format!("{service}/openidConnectProviders/o?api-version=1")),
            "PUT openidConnectProvider"
        );
    }
}
