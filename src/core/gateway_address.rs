//! Where the ingress gateway can be reached: the observed fact every URL is built from.
//!
//! Sources, in the reference's order of trust: the first Service labelled `istio=ingressgateway`
//! (by namespace, then name), else the status addresses of the Gateway API `Gateway` named by
//! `APIOPERATORISTIO_COMPONENTGATEWAY` (what the Canvas documentation promises). A configured public
//! host name replaces the address whatever the source.
//! With `ROUTE_BACKEND=HTTPRoute` the Gateway the routes attach to is the only source
//! ([`GatewayAddress::for_routes`]).

use k8s_openapi::api::core::v1::Service;
use kube::CustomResource;
use serde::{Deserialize, Serialize};

pub use crate::config::INGRESS_SERVICE_SELECTOR;

/// The address of the ingress gateway and its ports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GatewayAddress {
    /// First load-balancer ingress entry; `None` while the load balancer is pending.
    pub target: Option<IngressTarget>,
    /// Ports in declaration order; the URL's port suffix is derived from them.
    pub ports: Vec<IngressPort>,
    /// What the listener URLs go through serves, from which the scheme and the default port follow.
    pub scheme: Scheme,
}

/// The scheme of URLs and the port they leave out, as the gateway's listener says.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// The reference's rule, kept while nothing says otherwise (a TLS Istio Gateway, the Canvas
    /// default, or none known): `https://`, the first `http`/`http2` port unless 80 or 443.
    #[default]
    Reference,
    /// A plain-HTTP listener: `http://`, the port unless 80.
    Http,
    /// A TLS-terminating listener: `https://`, the port unless 443.
    Https,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Reference | Self::Https => "https",
        }
    }

    /// Whether URLs leave `port` out.
    fn implies(self, port: i32) -> bool {
        match self {
            Self::Reference => port == 80 || port == 443,
            Self::Http => port == 80,
            Self::Https => port == 443,
        }
    }
}

/// One load-balancer ingress entry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IngressTarget {
    pub ip: Option<String>,
    pub hostname: Option<String>,
}

/// A named port of the gateway.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IngressPort {
    pub name: Option<String>,
    pub port: i32,
}

impl GatewayAddress {
    /// The address a gateway Service advertises.
    pub fn from_service(service: &Service) -> Self {
        let target = service
            .status
            .as_ref()
            .and_then(|s| s.load_balancer.as_ref())
            .and_then(|lb| lb.ingress.as_ref())
            .and_then(|ingress| ingress.first())
            .map(|i| IngressTarget { ip: non_empty(&i.ip), hostname: non_empty(&i.hostname) });
        let ports = service
            .spec
            .as_ref()
            .and_then(|s| s.ports.as_ref())
            .map(|ports| ports.iter().map(|p| IngressPort { name: p.name.clone(), port: p.port }).collect())
            .unwrap_or_default();
        Self { target, ports, scheme: Scheme::Reference }
    }

    /// The address a Gateway API Gateway reports in its status.
    pub fn from_gateway(gateway: &Gateway) -> Self {
        let addresses = gateway.status.as_ref().map(|s| s.addresses.as_slice()).unwrap_or_default();
        let find = |kind: &str| {
            addresses
                .iter()
                .find(|a| a.type_.as_deref().unwrap_or("IPAddress") == kind && !a.value.is_empty())
                .map(|a| a.value.clone())
        };
        let (ip, hostname) = (find("IPAddress"), find("Hostname"));
        let target = (ip.is_some() || hostname.is_some()).then_some(IngressTarget { ip, hostname });
        let ports =
            gateway.spec.listeners.iter().map(|l| IngressPort { name: Some(l.name.clone()), port: l.port }).collect();
        Self { target, ports, scheme: Scheme::Reference }
    }

    /// The address of a Gateway for routes attached to listener `section`: its status addresses,
    /// and the scheme and port of that listener; without a section, of its first HTTPS listener,
    /// else its first HTTP one. The port appears in URLs unless it is the scheme's default.
    pub fn for_routes(gateway: &Gateway, section: Option<&str>) -> Self {
        let listeners = &gateway.spec.listeners;
        let with = |protocol: &str| listeners.iter().find(|l| l.protocol == protocol);
        let listener = match section {
            Some(section) => listeners.iter().find(|l| l.name == section),
            None => with("HTTPS").or_else(|| with("HTTP")),
        };
        let ports = listener.map(|l| vec![IngressPort { name: Some("http".into()), port: l.port }]).unwrap_or_default();
        // HTTPRoutes attach to HTTP and HTTPS (or terminating TLS) listeners; only HTTP is plain.
        let scheme = match listener {
            Some(l) if l.protocol == "HTTP" => Scheme::Http,
            _ => Scheme::Https,
        };
        Self { target: Self::from_gateway(gateway).target, ports, scheme }
    }

    /// URLs through a plain-HTTP listener on `port` (an Istio Gateway without TLS servers).
    pub fn plain_http(self, port: i32) -> Self {
        Self { ports: vec![IngressPort { name: Some("http".into()), port }], scheme: Scheme::Http, ..self }
    }

    /// Applies `APIOPERATORISTIO_PUBLICHOSTNAME`: a dotted quad is reported as an IP, anything else
    /// as a host name.
    pub fn with_public_hostname(self, host: &str) -> Self {
        let target = if is_dotted_quad(host) {
            IngressTarget { ip: Some(host.to_owned()), hostname: None }
        } else {
            IngressTarget { ip: None, hostname: Some(host.to_owned()) }
        };
        Self { target: Some(target), ..self }
    }

    /// The `:port` suffix of URLs: taken from the first port named `http` or `http2` (reference
    /// rule; `https` ports are never considered), omitted when the scheme implies it.
    pub fn port_suffix(&self) -> String {
        match self.ports.iter().find(|p| matches!(p.name.as_deref(), Some("http" | "http2"))) {
            Some(p) if !self.scheme.implies(p.port) => format!(":{}", p.port),
            _ => String::new(),
        }
    }
}

/// Picks the gateway address: the first labelled Service by namespace and name, else the Gateway.
/// `None` means no source exists at all.
pub fn select<'a>(
    services: impl IntoIterator<Item = &'a Service>,
    gateway: Option<&Gateway>,
    public_hostname: Option<&str>,
) -> Option<GatewayAddress> {
    let first_service = services
        .into_iter()
        .min_by(|a, b| (&a.metadata.namespace, &a.metadata.name).cmp(&(&b.metadata.namespace, &b.metadata.name)));
    let from_service = first_service.map(GatewayAddress::from_service);
    let from_gateway = gateway.map(GatewayAddress::from_gateway);
    let address = match (from_service, from_gateway) {
        (Some(s), Some(g)) if s.target.is_none() && g.target.is_some() => Some(g),
        (Some(s), _) => Some(s),
        (None, g) => g,
    };
    // Unlike the reference, a public host name yields URLs even when no gateway Service exists.
    match public_hostname {
        Some(host) => Some(address.unwrap_or_default().with_public_hostname(host)),
        None => address,
    }
}

/// The reference's IP test: four dot-separated digit runs, nothing more.
fn is_dotted_quad(host: &str) -> bool {
    let parts: Vec<&str> = host.split('.').collect();
    parts.len() == 4 && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

fn non_empty(value: &Option<String>) -> Option<String> {
    value.clone().filter(|v| !v.is_empty())
}

/// `APIOPERATORISTIO_COMPONENTGATEWAY` as `(namespace, name)`; a bare name has no namespace.
pub fn gateway_ref(component_gateway: &str) -> (Option<&str>, &str) {
    match component_gateway.split_once('/') {
        Some((ns, name)) => (Some(ns), name),
        None => (None, component_gateway),
    }
}

/// The part of a Gateway API `Gateway` the operator reads.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "gateway.networking.k8s.io",
    version = "v1",
    kind = "Gateway",
    namespaced,
    status = "GatewayStatus",
    schema = "disabled"
)]
#[serde(rename_all = "camelCase")]
pub struct GatewaySpec {
    #[serde(default)]
    pub gateway_class_name: String,
    #[serde(default)]
    pub listeners: Vec<Listener>,
}

/// A Gateway listener.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
pub struct Listener {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub port: i32,
    #[serde(default)]
    pub protocol: String,
}

/// The part of a Gateway's status the operator reads.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
pub struct GatewayStatus {
    #[serde(default)]
    pub addresses: Vec<GatewayStatusAddress>,
    /// Its controller's conditions (`Accepted`, `Programmed`), read leniently.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<GatewayCondition>,
}

/// A condition of a Gateway, as its controller writes it.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GatewayCondition {
    #[serde(rename = "type", default)]
    pub type_: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// An address a Gateway is reachable at.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
pub struct GatewayStatusAddress {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    #[serde(default)]
    pub value: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        LoadBalancerIngress, LoadBalancerStatus, ServicePort, ServiceSpec, ServiceStatus,
    };

    fn service(ns: &str, name: &str, ip: Option<&str>) -> Service {
        let mut svc = Service {
            spec: Some(ServiceSpec {
                ports: Some(vec![ServicePort { name: Some("http2".into()), port: 80, ..Default::default() }]),
                ..Default::default()
            }),
            status: Some(ServiceStatus {
                load_balancer: Some(LoadBalancerStatus {
                    ingress: ip.map(|ip| vec![LoadBalancerIngress { ip: Some(ip.into()), ..Default::default() }]),
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        svc.metadata.namespace = Some(ns.into());
        svc.metadata.name = Some(name.into());
        svc
    }

    fn gateway(addresses: &[(&str, &str)]) -> Gateway {
        let mut gw = Gateway::new(
            "component-gateway",
            GatewaySpec {
                gateway_class_name: "istio".into(),
                listeners: vec![Listener { name: "http".into(), port: 8080, protocol: "HTTP".into() }],
            },
        );
        gw.status = Some(GatewayStatus {
            addresses: addresses
                .iter()
                .map(|(t, v)| GatewayStatusAddress { type_: Some((*t).into()), value: (*v).into() })
                .collect(),
            conditions: Vec::new(),
        });
        gw
    }

    fn ip(address: Option<GatewayAddress>) -> Option<String> {
        address?.target?.ip
    }

    #[test]
    fn the_first_labelled_service_by_namespace_then_name_wins() {
        let services = [
            service("z", "a", Some("3.3.3.3")),
            service("a", "b", Some("2.2.2.2")),
            service("a", "a", Some("1.1.1.1")),
        ];
        assert_eq!(ip(select(&services, None, None)), Some("1.1.1.1".into()));
    }

    #[test]
    fn a_gateway_address_stands_in_for_a_pending_load_balancer() {
        let pending = [service("istio", "ingress", None)];
        let gw = gateway(&[("Hostname", "gw.example.org")]);
        let address = select(&pending, Some(&gw), None).unwrap();
        assert_eq!(address.target.unwrap().hostname.as_deref(), Some("gw.example.org"));
        assert_eq!(address.ports[0].port, 8080);
        assert_eq!(ip(select(&[], Some(&gateway(&[("IPAddress", "4.4.4.4")])), None)), Some("4.4.4.4".into()));
        let with_address = [service("istio", "ingress", Some("1.1.1.1"))];
        assert_eq!(ip(select(&with_address, Some(&gw), None)), Some("1.1.1.1".into()), "the Service comes first");
        assert_eq!(select(&[], None, None), None);
    }

    fn scheme_and_port(gw: &Gateway, section: Option<&str>) -> (&'static str, String) {
        let address = GatewayAddress::for_routes(gw, section);
        (address.scheme.as_str(), address.port_suffix())
    }

    #[test]
    fn routes_take_the_scheme_and_port_of_their_listener() {
        let mut gw = gateway(&[("IPAddress", "4.4.4.4")]);
        gw.spec.listeners.insert(0, Listener { name: "tls".into(), port: 8443, protocol: "TLS".into() });
        gw.spec.listeners.push(Listener { name: "web".into(), port: 80, protocol: "HTTP".into() });
        assert_eq!(scheme_and_port(&gw, None), ("http", ":8080".into()), "no HTTPS listener: the first HTTP one");
        assert_eq!(scheme_and_port(&gw, Some("web")), ("http", String::new()));
        assert_eq!(scheme_and_port(&gw, Some("tls")), ("https", ":8443".into()));
        let unknown = GatewayAddress::for_routes(&gw, Some("nope"));
        assert_eq!((unknown.port_suffix(), unknown.target.unwrap().ip), (String::new(), Some("4.4.4.4".into())));
        gw.spec.listeners.push(Listener { name: "secure".into(), port: 443, protocol: "HTTPS".into() });
        assert_eq!(scheme_and_port(&gw, None), ("https", String::new()), "an HTTPS listener comes first");
        gw.spec.listeners[3].port = 80;
        assert_eq!(scheme_and_port(&gw, Some("secure")), ("https", ":80".into()), "80 is not HTTPS's default");
        let plain = Gateway::new(
            "gw",
            GatewaySpec {
                gateway_class_name: "traefik".into(),
                listeners: vec![Listener { name: "web".into(), port: 8000, protocol: "HTTP".into() }],
            },
        );
        assert_eq!(scheme_and_port(&plain, None), ("http", ":8000".into()));
    }

    #[test]
    fn a_public_hostname_needs_no_service() {
        let address = select(&[], None, Some("api.example.org")).unwrap();
        assert_eq!(address.target.unwrap().hostname.as_deref(), Some("api.example.org"));
        assert_eq!(address.ports, vec![]);
        assert_eq!(gateway_ref("canvas/component-gateway"), (Some("canvas"), "component-gateway"));
        assert_eq!(gateway_ref("component-gateway"), (None, "component-gateway"));
    }
}
