//! Operator configuration: every environment variable of the reference operator, with the same
//! names and defaults, each also a command-line flag.

use clap::{Args, ValueEnum};

mod apim;
mod azure;
mod policy;
pub use apim::{ApimConfig, ApimImportMode, ApimJwtMode};
pub use azure::{ApimConfigSource, AzureConfig};
pub use policy::{ENVOY_GATEWAY_CONTROLLER, ISTIO_GATEWAY_CONTROLLER, PolicyConfig, Unenforceable};

/// Label selecting the Istio ingress gateway Service (the default of
/// `APIOPERATORISTIO_INGRESS_SELECTOR`).
pub const INGRESS_SERVICE_SELECTOR: &str = "istio=ingressgateway";

/// How metrics APIs (`apiType` `prometheus` / `openmetrics`) get scraped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OpenMetricsImplementation {
    /// A Prometheus-operator ServiceMonitor owned by the ExposedAPI.
    #[value(name = "ServiceMonitor")]
    ServiceMonitor,
    /// `prometheus.io/*` annotations on the implementation's pods.
    #[value(name = "PrometheusAnnotation")]
    PrometheusAnnotation,
    /// A DataDog openmetrics check annotation on the implementation's pods.
    #[value(name = "DataDogAnnotation", alias = "DataDogAnnotations")]
    DataDogAnnotation,
}

/// Which `networking.istio.io` version VirtualServices are written with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum VirtualServiceVersion {
    /// As the reference operator writes them (works with every Istio release).
    V1alpha3,
    /// Istio 1.8 and later.
    V1beta1,
    /// Istio 1.22 and later.
    V1,
}

impl VirtualServiceVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V1alpha3 => "v1alpha3",
            Self::V1beta1 => "v1beta1",
            Self::V1 => "v1",
        }
    }
}

/// How APIs are published on the gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RouteBackend {
    /// An Istio `VirtualService` bound to the component gateway (the reference's way).
    #[value(name = "VirtualService")]
    VirtualService,
    /// A Gateway API `HTTPRoute` attached to the component gateway.
    #[value(name = "HTTPRoute")]
    HttpRoute,
    /// Azure API Management in front of an Ingress into the mesh: the API imported into APIM from
    /// its OpenAPI document, with its policy (CORS, rate limit, JWT).
    #[value(name = "AzureAPIM")]
    AzureApim,
}

/// What decides the output, shared by `run` and `render`.
#[derive(Args, Clone, Debug)]
pub struct OperatorConfig {
    /// Metrics scraping pattern for metrics APIs.
    #[arg(long, env = "OPENMETRICS_IMPLEMENTATION", default_value = "ServiceMonitor", value_enum)]
    pub openmetrics_implementation: OpenMetricsImplementation,

    /// Public host name: the VirtualService host and the URL host instead of the gateway address.
    /// A dotted quad is reported as an IP.
    #[arg(long, env = "APIOPERATORISTIO_PUBLICHOSTNAME")]
    pub public_hostname: Option<String>,

    /// Istio Gateway every VirtualService binds to, usually `<namespace>/<name>`.
    #[arg(long, env = "APIOPERATORISTIO_COMPONENTGATEWAY", default_value = "component-gateway")]
    pub component_gateway: String,

    /// API version of the VirtualServices written.
    #[arg(long, env = "APIOPERATORISTIO_VIRTUALSERVICE_VERSION", default_value = "v1alpha3", value_enum)]
    pub virtual_service_version: VirtualServiceVersion,

    /// How APIs are published: Istio VirtualServices, or Gateway API HTTPRoutes attached to the
    /// Gateway named by the component gateway setting. Switching removes the other kind's objects.
    #[arg(long, env = "ROUTE_BACKEND", default_value = "VirtualService", value_enum)]
    pub route_backend: RouteBackend,

    /// The listener (`sectionName`) of the Gateway the HTTPRoutes attach to; all when unset.
    #[arg(long, env = "GATEWAY_SECTION_NAME")]
    pub gateway_section_name: Option<String>,

    #[command(flatten)]
    pub policy: PolicyConfig,

    #[command(flatten)]
    pub apim: ApimConfig,
}

impl OperatorConfig {
    /// The public host name, treating an empty value as unset (as the reference does).
    pub fn public_hostname(&self) -> Option<&str> {
        self.public_hostname.as_deref().map(str::trim).filter(|h| !h.is_empty())
    }

    /// The Gateway listener HTTPRoutes attach to, treating an empty value as unset.
    pub fn gateway_section_name(&self) -> Option<&str> {
        self.gateway_section_name.as_deref().map(str::trim).filter(|s| !s.is_empty())
    }

    /// The VirtualService host: the public host name, or `*`.
    pub fn route_host(&self) -> &str {
        self.public_hostname().unwrap_or("*")
    }
}

impl Default for OperatorConfig {
    fn default() -> Self {
        Self {
            openmetrics_implementation: OpenMetricsImplementation::ServiceMonitor,
            public_hostname: None,
            component_gateway: "component-gateway".into(),
            virtual_service_version: VirtualServiceVersion::V1alpha3,
            route_backend: RouteBackend::VirtualService,
            gateway_section_name: None,
            policy: PolicyConfig::default(),
            apim: ApimConfig::default(),
        }
    }
}

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Configuration of `oda-api-operator run`.
#[derive(Args, Clone, Debug)]
pub struct RunConfig {
    #[command(flatten)]
    pub output: OperatorConfig,

    /// Namespaces whose ExposedAPIs are handled: a name, a comma-separated list (entries may be
    /// `*` patterns such as `odacompns-*`), or `*` for all.
    #[arg(long, env = "COMPONENT_NAMESPACE", default_value = "components")]
    pub component_namespace: String,

    /// The reference chart's `-n a -n b` form of the namespace list; merged with the above.
    #[arg(long, env = "COMPONENT_NAMESPACES_CLI", hide = true)]
    pub component_namespaces_cli: Option<String>,

    /// Log level: the reference's numeric levels (10 debug, 20 info, 30 warning, 40 error) or a name.
    #[arg(long, env = "LOGGING", default_value = "20")]
    pub logging: String,

    /// Log format.
    #[arg(long, env = "LOG_FORMAT", default_value = "text", value_enum)]
    pub log_format: LogFormat,

    /// Label selector of the ingress gateway Services whose load-balancer address is published.
    #[arg(long, env = "APIOPERATORISTIO_INGRESS_SELECTOR", default_value = INGRESS_SERVICE_SELECTOR)]
    pub ingress_selector: String,

    /// Namespace to look for the ingress gateway Service in; all namespaces when unset.
    #[arg(long, env = "APIOPERATORISTIO_INGRESS_NAMESPACE")]
    pub ingress_namespace: Option<String>,

    /// How many ExposedAPIs are reconciled at once.
    #[arg(long, env = "RECONCILE_CONCURRENCY", default_value_t = 16)]
    pub concurrency: u16,

    /// Port of the HTTP server with `/metrics`, `/healthz` and `/readyz`.
    #[arg(long, env = "HTTP_PORT", default_value_t = 8080)]
    pub http_port: u16,

    /// Elect a leader through a coordination.k8s.io Lease, so that replicas can run side by side and
    /// only the leader writes.
    #[arg(long, env = "LEADER_ELECTION", default_value_t = false, action = clap::ArgAction::Set)]
    pub leader_election: bool,

    /// Namespace of the Lease (default: the pod's namespace, from `POD_NAMESPACE`).
    #[arg(long, env = "LEADER_ELECTION_NAMESPACE")]
    pub leader_election_namespace: Option<String>,

    /// Name of the Lease.
    #[arg(long, env = "LEADER_ELECTION_LEASE_NAME", default_value = "oda-api-operator")]
    pub lease_name: String,

    /// This replica's identity in the Lease and in Events (default: the host name).
    #[arg(long, env = "POD_NAME")]
    pub pod_name: Option<String>,

    /// Build time, logged at start-up.
    #[arg(long, env = "CICD_BUILD_TIME", hide = true)]
    pub build_time: Option<String>,

    /// Commit, logged at start-up.
    #[arg(long, env = "GIT_COMMIT_SHA", hide = true)]
    pub git_commit: Option<String>,

    /// Accepted for compatibility with the reference chart; unused (as in the reference).
    #[arg(long, env = "INGRESS_CLASS", hide = true)]
    pub ingress_class: Option<String>,

    #[command(flatten)]
    pub azure: AzureConfig,
}

impl RunConfig {
    /// The ingress gateway Service's namespace, treating an empty value as unset.
    pub fn ingress_namespace(&self) -> Option<&str> {
        self.ingress_namespace.as_deref().map(str::trim).filter(|n| !n.is_empty())
    }

    pub fn namespaces(&self) -> WatchNamespaces {
        WatchNamespaces::parse(&self.component_namespace, self.component_namespaces_cli.as_deref())
    }
}

/// Namespaces to watch, from `COMPONENT_NAMESPACE`: one name, a comma-separated list, or `*`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WatchNamespaces {
    All,
    Some(Vec<String>),
}

impl WatchNamespaces {
    /// Parses `COMPONENT_NAMESPACE`, plus the chart's `COMPONENT_NAMESPACES_CLI` (`-n a -n b`) form.
    pub fn parse(list: &str, cli_form: Option<&str>) -> Self {
        let mut names: Vec<String> =
            list.split(',').map(str::trim).filter(|n| !n.is_empty()).map(String::from).collect();
        if let Some(cli) = cli_form {
            let tokens: Vec<&str> = cli.split_whitespace().collect();
            for pair in tokens.windows(2) {
                if matches!(pair[0], "-n" | "--namespace") {
                    names.push(pair[1].to_owned());
                }
            }
        }
        if names.iter().any(|n| n == "*") {
            return Self::All;
        }
        names.sort();
        names.dedup();
        Self::Some(names)
    }

    /// The single namespace to watch, when the list names exactly one and no pattern.
    pub fn single(&self) -> Option<&str> {
        match self {
            Self::Some(names) if names.len() == 1 && !names[0].contains('*') => Some(&names[0]),
            _ => None,
        }
    }

    /// Whether a namespace is watched; entries may be glob patterns with `*` (`odacompns-*`).
    pub fn matches(&self, namespace: &str) -> bool {
        match self {
            Self::All => true,
            Self::Some(names) => names.iter().any(|pattern| glob_match(pattern, namespace)),
        }
    }
}

/// `*`-only glob matching, enough for namespace patterns.
fn glob_match(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let Some(first) = parts.next() else { return false };
    let Some(mut rest) = text.strip_prefix(first) else { return false };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else { return rest.is_empty() };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// Maps `LOGGING` to a tracing level: the reference's numeric Python levels, or level names.
pub fn log_level(value: &str) -> Option<tracing::Level> {
    let value = value.trim();
    if let Ok(n) = value.parse::<u32>() {
        return Some(match n {
            0..=10 => tracing::Level::DEBUG,
            11..=20 => tracing::Level::INFO,
            21..=30 => tracing::Level::WARN,
            _ => tracing::Level::ERROR,
        });
    }
    match value.to_ascii_uppercase().as_str() {
        "TRACE" => Some(tracing::Level::TRACE),
        "DEBUG" => Some(tracing::Level::DEBUG),
        "INFO" => Some(tracing::Level::INFO),
        "WARN" | "WARNING" => Some(tracing::Level::WARN),
        "ERROR" | "CRITICAL" => Some(tracing::Level::ERROR),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        config: OperatorConfig,
    }

    #[test]
    fn defaults_match_the_reference() {
        let cli = Cli::try_parse_from(["x"]).unwrap();
        assert_eq!(cli.config.openmetrics_implementation, OpenMetricsImplementation::ServiceMonitor);
        assert_eq!(cli.config.component_gateway, "component-gateway");
        assert_eq!(cli.config.route_host(), "*");
    }

    #[test]
    fn datadog_plural_is_an_alias() {
        let cli = Cli::try_parse_from(["x", "--openmetrics-implementation", "DataDogAnnotations"]).unwrap();
        assert_eq!(cli.config.openmetrics_implementation, OpenMetricsImplementation::DataDogAnnotation);
    }

    #[test]
    fn unknown_openmetrics_implementation_lists_accepted_values() {
        let err = Cli::try_parse_from(["x", "--openmetrics-implementation", "Bogus"]).err().unwrap().to_string();
        for accepted in ["ServiceMonitor", "PrometheusAnnotation", "DataDogAnnotation"] {
            assert!(err.contains(accepted), "{err}");
        }
    }

    #[test]
    fn empty_public_hostname_is_unset() {
        let cli = Cli::try_parse_from(["x", "--public-hostname", ""]).unwrap();
        assert_eq!(cli.config.public_hostname(), None);
    }

    #[test]
    fn namespaces_parse_lists_stars_and_cli_form() {
        assert_eq!(WatchNamespaces::parse("components", None), WatchNamespaces::Some(vec!["components".into()]));
        assert_eq!(WatchNamespaces::parse("b, a,,a", None), WatchNamespaces::Some(vec!["a".into(), "b".into()]));
        assert_eq!(WatchNamespaces::parse("*", None), WatchNamespaces::All);
        assert_eq!(
            WatchNamespaces::parse("", Some("-n components -n odacompns-1")),
            WatchNamespaces::Some(vec!["components".into(), "odacompns-1".into()])
        );
    }

    #[test]
    fn namespace_patterns_match() {
        let ns = WatchNamespaces::parse("components,odacompns-*", None);
        assert!(ns.matches("components"));
        assert!(ns.matches("odacompns-1"));
        assert!(!ns.matches("odacompns"));
        assert!(!ns.matches("kube-system"));
        assert_eq!(ns.single(), None);
        assert_eq!(WatchNamespaces::parse("components", None).single(), Some("components"));
        assert!(glob_match("a*b*c", "aXbYc"));
        assert!(!glob_match("a*b", "ab-"));
    }

    #[test]
    fn logging_accepts_numbers_and_names() {
        assert_eq!(log_level("20"), Some(tracing::Level::INFO));
        assert_eq!(log_level("10"), Some(tracing::Level::DEBUG));
        assert_eq!(log_level("30"), Some(tracing::Level::WARN));
        assert_eq!(log_level("info"), Some(tracing::Level::INFO));
        assert_eq!(log_level("loud"), None);
    }
}
