//! What APIM accepts beyond the ExposedAPI's own validation, from Microsoft's published contract:
//! the `maxLength`s of `ApiContractProperties` (REST spec 2024-05-01) and the `cors` policy's rules
//! (policy reference: an origin is `*` or one origin, no wildcard host; at least one origin and one
//! method). A value too long to send is cut with a stable hash where that keeps its meaning (the
//! display name, as the API id is), else refused.

use crate::core::cors::Cors;

/// `ApiContractProperties.displayName.maxLength`.
pub const MAX_DISPLAY_NAME: usize = 300;
/// `ApiContractProperties.path.maxLength`.
pub const MAX_PATH: usize = 400;
/// `ApiContractProperties.serviceUrl.maxLength`.
pub const MAX_SERVICE_URL: usize = 2000;

/// The display name within APIM's bound: cut, with eight hex digits of its hash so two long names
/// stay apart and the same name always gives the same text. The bound counts characters.
pub fn display_name(name: &str) -> String {
    if name.chars().count() <= MAX_DISPLAY_NAME {
        return name.to_owned();
    }
    let kept: String = name.chars().take(MAX_DISPLAY_NAME - 9).collect();
    format!("{kept}-{}", super::short_hash(name))
}

/// A field longer than APIM's `maxLength`, as `(field, length, max)`.
pub fn too_long(path: &str, service_url: Option<&str>) -> Option<(&'static str, usize, usize)> {
    let path_len = path.chars().count();
    if path_len > MAX_PATH {
        return Some(("spec.path", path_len, MAX_PATH));
    }
    let url_len = service_url.map_or(0, |u| u.chars().count());
    (url_len > MAX_SERVICE_URL).then_some(("serviceUrl", url_len, MAX_SERVICE_URL))
}

/// Why APIM's `cors` policy cannot carry this CORS setting (empty: it can).
pub fn cors_problems(cors: &Cors) -> Vec<String> {
    let mut problems = Vec::new();
    for origin in cors.origins.iter().filter(|o| o.contains('*') && o.as_str() != "*") {
        problems.push(format!(
            "spec.CORS.allowOrigins: {origin:?} has a wildcard host; APIM's cors policy allows only \"*\" or a \
             single origin per <origin>"
        ));
    }
    if cors.origins.is_empty() {
        problems.push("spec.CORS.allowOrigins is empty; APIM's cors policy needs at least one origin".into());
    }
    if cors.methods.is_empty() {
        problems.push(
            "spec.CORS.handlePreflightRequests.allowMethods is empty; APIM's cors policy needs at least one method"
                .into(),
        );
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cors(origins: &[&str], methods: &[&str]) -> Cors {
        Cors {
            origins: origins.iter().map(|s| s.to_string()).collect(),
            methods: methods.iter().map(|s| s.to_string()).collect(),
            headers: vec![],
            max_age: None,
            allow_credentials: false,
            answer_preflights: true,
        }
    }

    #[test]
    fn display_names_are_cut_stably_within_the_bound() {
        assert_eq!(display_name("Product Catalog"), "Product Catalog");
        let long = "é".repeat(400);
        let cut = display_name(&long);
        assert_eq!(cut.chars().count(), MAX_DISPLAY_NAME);
        assert_eq!(cut, display_name(&long));
        assert_ne!(cut, display_name(&"é".repeat(401)));
    }

    #[test]
    fn lengths_over_the_specs_bounds_are_named() {
        assert_eq!(too_long("p", Some("https://x/p")), None);
        assert_eq!(too_long(&"p".repeat(401), None), Some(("spec.path", 401, 400)));
        let url = format!("https://x/{}", "u".repeat(2000));
        assert_eq!(too_long("p", Some(&url)).map(|t| t.0), Some("serviceUrl"));
    }

    #[test]
    fn apim_refuses_wildcard_hosts_and_empty_lists() {
        assert!(cors_problems(&cors(&["*"], &["GET"])).is_empty());
        assert!(cors_problems(&cors(&["https://a.example.org"], &["GET"])).is_empty());
        let wildcard = cors_problems(&cors(&["https://*.example.org"], &["GET"]));
        assert!(wildcard[0].contains("only \"*\" or a single origin"), "{wildcard:?}");
        assert_eq!(cors_problems(&cors(&[], &[])).len(), 2);
    }
}
