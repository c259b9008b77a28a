//! External URL, developer-UI URL and `ip` of an API (reference §2.7).
//!
//! Scheme and port suffix come from the gateway's listener ([`Scheme`]): the reference's
//! `https://` and first `http`/`http2` port unless 80/443, unless the listener is known to be
//! plain HTTP (`http://`, port unless 80) or TLS (`https://`, port unless 443); `spec.hostname`
//! replaces the host in the URL (not in the route); paths are appended verbatim.

use crate::core::gateway_address::GatewayAddress;
#[cfg(doc)]
use crate::core::gateway_address::Scheme;
use crate::core::validation::ValidApi;

/// Where an API is reachable from outside.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PublishedUrl {
    pub url: String,
    pub developer_ui: Option<String>,
    /// The gateway address: an IP, or a host name when the load balancer only has that.
    pub ip: Option<String>,
}

/// Computes the URLs, or `None` while the gateway has no usable address. (The reference raised an
/// error when the load balancer entry had neither IP nor host name; here that is simply pending.)
pub fn published_url(api: &ValidApi, gateway: Option<&GatewayAddress>) -> Option<PublishedUrl> {
    let gateway = gateway?;
    let target = gateway.target.as_ref()?;
    let address = target.ip.clone().or_else(|| target.hostname.clone());
    let host = match api.hostname.as_deref() {
        Some(hostname) => hostname.to_owned(),
        None => address.clone()?,
    };
    let base = format!("{}://{host}{}", gateway.scheme.as_str(), gateway.port_suffix());
    Some(PublishedUrl {
        url: format!("{base}{}", api.path),
        developer_ui: api.developer_ui.as_ref().map(|ui| format!("{base}{ui}")),
        ip: address,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::fixtures::short_api;
    use crate::core::gateway_address::{IngressPort, IngressTarget, Scheme};

    fn api(hostname: Option<&str>, developer_ui: bool) -> ValidApi {
        ValidApi {
            developer_ui: developer_ui.then(|| "/c1/docs".into()),
            hostname: hostname.map(Into::into),
            ..short_api()
        }
    }

    fn gateway(ip: Option<&str>, hostname: Option<&str>, ports: &[(&str, i32)]) -> GatewayAddress {
        GatewayAddress {
            target: Some(IngressTarget { ip: ip.map(Into::into), hostname: hostname.map(Into::into) }),
            ports: ports.iter().map(|(n, p)| IngressPort { name: Some((*n).into()), port: *p }).collect(),
            scheme: Scheme::Reference,
        }
    }

    fn listener(scheme: Scheme, port: i32) -> GatewayAddress {
        GatewayAddress { scheme, ..gateway(Some("1.2.3.4"), None, &[("http", port)]) }
    }

    fn urls(api: &ValidApi, gw: &GatewayAddress) -> Option<(String, Option<String>, Option<String>)> {
        published_url(api, Some(gw)).map(|p| (p.url, p.developer_ui, p.ip))
    }

    fn some(url: &str, ui: Option<&str>, ip: Option<&str>) -> Option<(String, Option<String>, Option<String>)> {
        Some((url.into(), ui.map(Into::into), ip.map(Into::into)))
    }

    /// The verified decision table of reference §2.7.
    #[test]
    fn reference_decision_table() {
        let standard = [("status-port", 15021), ("http2", 80), ("https", 443)];
        let cases = [
            (
                api(None, true),
                gateway(Some("1.2.3.4"), None, &standard),
                some("https://1.2.3.4/c1/tmf-api/x/v4", Some("https://1.2.3.4/c1/docs"), Some("1.2.3.4")),
            ),
            (
                api(None, false),
                gateway(None, Some("lb.example.com"), &[("http2", 80)]),
                some("https://lb.example.com/c1/tmf-api/x/v4", None, Some("lb.example.com")),
            ),
            (
                api(None, false),
                gateway(Some("1.2.3.4"), Some("lb.example.com"), &[("http2", 80)]),
                some("https://1.2.3.4/c1/tmf-api/x/v4", None, Some("1.2.3.4")),
            ),
            (
                api(None, true),
                gateway(Some("1.2.3.4"), None, &[("http", 8080), ("http2", 80)]),
                some("https://1.2.3.4:8080/c1/tmf-api/x/v4", Some("https://1.2.3.4:8080/c1/docs"), Some("1.2.3.4")),
            ),
            (
                api(None, false),
                gateway(Some("1.2.3.4"), None, &[("http2", 443)]),
                some("https://1.2.3.4/c1/tmf-api/x/v4", None, Some("1.2.3.4")),
            ),
            (
                api(None, false),
                gateway(Some("1.2.3.4"), None, &[("web", 8080), ("https", 8443)]),
                some("https://1.2.3.4/c1/tmf-api/x/v4", None, Some("1.2.3.4")),
            ),
            (
                api(Some("api.example.org"), true),
                gateway(Some("1.2.3.4"), None, &[("http2", 8080)]),
                some(
                    "https://api.example.org:8080/c1/tmf-api/x/v4",
                    Some("https://api.example.org:8080/c1/docs"),
                    Some("1.2.3.4"),
                ),
            ),
            (
                api(Some("api.example.org"), false),
                gateway(None, None, &[("http2", 80)]),
                some("https://api.example.org/c1/tmf-api/x/v4", None, None),
            ),
            // Reference: TemporaryError("Ingress target does not contain ip or hostname"); here: pending.
            (api(None, false), gateway(None, None, &[("http2", 80)]), None),
        ];
        for (i, (api, gw, expected)) in cases.iter().enumerate() {
            assert_eq!(&urls(api, gw), expected, "case {i}");
        }
    }

    /// Beyond the reference: the scheme and default port of a listener known to be HTTP or TLS.
    #[test]
    fn listener_decision_table() {
        let cases = [
            (listener(Scheme::Http, 8000), "http://1.2.3.4:8000/c1/tmf-api/x/v4"),
            (listener(Scheme::Http, 80), "http://1.2.3.4/c1/tmf-api/x/v4"),
            (listener(Scheme::Http, 443), "http://1.2.3.4:443/c1/tmf-api/x/v4"),
            (listener(Scheme::Https, 443), "https://1.2.3.4/c1/tmf-api/x/v4"),
            (listener(Scheme::Https, 8443), "https://1.2.3.4:8443/c1/tmf-api/x/v4"),
            (listener(Scheme::Https, 80), "https://1.2.3.4:80/c1/tmf-api/x/v4"),
            (listener(Scheme::Reference, 80), "https://1.2.3.4/c1/tmf-api/x/v4"),
            (listener(Scheme::Reference, 8000), "https://1.2.3.4:8000/c1/tmf-api/x/v4"),
            (gateway(Some("1.2.3.4"), None, &[("http2", 80)]).plain_http(8080), "http://1.2.3.4:8080/c1/tmf-api/x/v4"),
        ];
        for (i, (gw, expected)) in cases.iter().enumerate() {
            assert_eq!(urls(&api(None, false), gw).map(|u| u.0).as_deref(), Some(*expected), "case {i}");
        }
        let by_name = listener(Scheme::Http, 8000).with_public_hostname("api.example.org");
        assert_eq!(
            urls(&api(None, true), &by_name),
            some(
                "http://api.example.org:8000/c1/tmf-api/x/v4",
                Some("http://api.example.org:8000/c1/docs"),
                Some("api.example.org")
            )
        );
    }

    #[test]
    fn pending_load_balancer_gives_no_url_even_with_hostname() {
        let gw = GatewayAddress { target: None, ports: vec![], scheme: Scheme::Reference };
        assert_eq!(published_url(&api(Some("api.example.org"), true), Some(&gw)), None);
        assert_eq!(published_url(&api(None, true), None), None);
    }

    #[test]
    fn public_hostname_overrides_the_address() {
        let base = gateway(Some("20.1.2.3"), None, &[("http2", 80)]);
        let by_name = base.clone().with_public_hostname("components.ihc-dt.cluster-2.de");
        assert_eq!(
            urls(&api(None, false), &by_name),
            some(
                "https://components.ihc-dt.cluster-2.de/c1/tmf-api/x/v4",
                None,
                Some("components.ihc-dt.cluster-2.de")
            )
        );
        let by_ip = base.with_public_hostname("10.20.30.40");
        assert_eq!(by_ip.target.as_ref().and_then(|t| t.ip.as_deref()), Some("10.20.30.40"));
        assert_eq!(
            urls(&api(None, false), &by_ip),
            some("https://10.20.30.40/c1/tmf-api/x/v4", None, Some("10.20.30.40"))
        );
    }

    #[test]
    fn trailing_slash_in_path_is_kept() {
        let mut a = api(None, false);
        a.path = "/c1/".into();
        assert_eq!(urls(&a, &gateway(Some("1.2.3.4"), None, &[])).unwrap().0, "https://1.2.3.4/c1/");
    }
}
