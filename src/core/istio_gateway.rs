//! What the Istio `Gateway` the VirtualServices bind to says about their URLs: the Canvas'
//! `component-gateway` terminates TLS, and URLs keep the reference's `https://`; a gateway that
//! serves plain HTTP only makes them `http://` on the port of its HTTP server.

use kube::core::{ApiResource, GroupVersionKind};
use serde::Deserialize;
use serde_json::Value;

use crate::core::gateway_address::GatewayAddress;

/// The Istio Gateway kind, in the version the VirtualServices are written with (Istio serves
/// both kinds in the same versions).
pub fn istio_gateway_resource(version: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("networking.istio.io", version, "Gateway"), "gateways")
}

/// How an Istio Gateway serves the VirtualServices bound to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IstioListener {
    /// A server has `tls` set or protocol HTTPS/TLS: the reference's URLs.
    Tls,
    /// No TLS server; the first HTTP/HTTP2 server listens on `port`.
    PlainHttp { port: i32 },
    /// Neither (no HTTP server at all): nothing to go by, the reference's URLs.
    Other,
}

impl IstioListener {
    /// Reads a Gateway's `spec`; a spec that does not parse says nothing ([`Self::Other`]).
    pub fn of_spec(spec: &Value) -> Self {
        let Ok(spec) = GatewaySpec::deserialize(spec) else { return Self::Other };
        let protocol_is =
            |server: &Server, names: &[&str]| names.iter().any(|n| server.port.protocol.eq_ignore_ascii_case(n));
        // An HTTP server with `tls.httpsRedirect` counts too: its clients end up on HTTPS.
        if spec
            .servers
            .iter()
            .any(|s| s.tls.as_ref().is_some_and(|t| !t.is_null()) || protocol_is(s, &["HTTPS", "TLS"]))
        {
            return Self::Tls;
        }
        spec.servers
            .iter()
            .find(|s| protocol_is(s, &["HTTP", "HTTP2"]))
            .and_then(|s| i32::try_from(s.port.number).ok())
            .map_or(Self::Other, |port| Self::PlainHttp { port })
    }
}

impl GatewayAddress {
    /// The address as seen through the Istio Gateway, when it is known (`None`: not found or not
    /// readable, the reference's URLs).
    pub fn behind_istio_gateway(self, listener: Option<IstioListener>) -> Self {
        match listener {
            Some(IstioListener::PlainHttp { port }) => self.plain_http(port),
            Some(IstioListener::Tls | IstioListener::Other) | None => self,
        }
    }
}

/// The part of an Istio Gateway's spec read here.
#[derive(Deserialize, Default)]
struct GatewaySpec {
    #[serde(default)]
    servers: Vec<Server>,
}

#[derive(Deserialize)]
struct Server {
    #[serde(default)]
    port: Port,
    #[serde(default)]
    tls: Option<Value>,
}

#[derive(Deserialize, Default)]
struct Port {
    #[serde(default)]
    number: u32,
    #[serde(default)]
    protocol: String,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::core::fixtures::short_api;
    use crate::core::gateway_address::{IngressPort, IngressTarget, Scheme};
    use crate::core::url::published_url;

    fn server(number: u32, protocol: &str) -> Value {
        json!({"hosts": ["*"], "port": {"number": number, "name": protocol.to_lowercase(), "protocol": protocol}})
    }

    #[test]
    fn tls_servers_keep_the_reference_and_plain_http_names_its_port() {
        let canvas = json!({"servers": [
            server(80, "HTTP"),
            {"hosts": ["*"], "port": {"number": 443, "name": "https", "protocol": "HTTPS"},
             "tls": {"mode": "SIMPLE", "credentialName": "canvas-tls"}},
        ]});
        assert_eq!(IstioListener::of_spec(&canvas), IstioListener::Tls);
        let redirect =
            json!({"servers": [{"port": {"number": 80, "protocol": "HTTP"}, "tls": {"httpsRedirect": true}}]});
        assert_eq!(IstioListener::of_spec(&redirect), IstioListener::Tls);
        let passthrough = json!({"servers": [server(8080, "http"), server(15443, "tls")]});
        assert_eq!(IstioListener::of_spec(&passthrough), IstioListener::Tls, "protocols are case-insensitive");
        let plain = json!({"servers": [server(15021, "TCP"), server(8080, "HTTP2"), server(80, "HTTP")]});
        assert_eq!(IstioListener::of_spec(&plain), IstioListener::PlainHttp { port: 8080 });
        assert_eq!(IstioListener::of_spec(&json!({"servers": [server(9000, "TCP")]})), IstioListener::Other);
        assert_eq!(IstioListener::of_spec(&json!({"servers": "nonsense"})), IstioListener::Other);
        assert_eq!(
            IstioListener::of_spec(&json!({"servers": [{"tls": null, "port": {"number": 80, "protocol": "HTTP"}}]})),
            IstioListener::PlainHttp { port: 80 }
        );
    }

    #[test]
    fn urls_follow_the_istio_gateway() {
        let service = GatewayAddress {
            target: Some(IngressTarget { ip: Some("1.2.3.4".into()), hostname: None }),
            ports: vec![IngressPort { name: Some("http2".into()), port: 8080 }],
            scheme: Scheme::Reference,
        };
        let url = |listener| {
            published_url(&short_api(), Some(&service.clone().behind_istio_gateway(listener))).map(|u| u.url)
        };
        assert_eq!(url(None).as_deref(), Some("https://1.2.3.4:8080/c1/tmf-api/x/v4"), "no Istio Gateway known");
        assert_eq!(url(Some(IstioListener::Tls)).as_deref(), Some("https://1.2.3.4:8080/c1/tmf-api/x/v4"));
        assert_eq!(url(Some(IstioListener::Other)).as_deref(), Some("https://1.2.3.4:8080/c1/tmf-api/x/v4"));
        assert_eq!(url(Some(IstioListener::PlainHttp { port: 80 })).as_deref(), Some("http://1.2.3.4/c1/tmf-api/x/v4"));
        assert_eq!(
            url(Some(IstioListener::PlainHttp { port: 8000 })).as_deref(),
            Some("http://1.2.3.4:8000/c1/tmf-api/x/v4")
        );
    }
}
