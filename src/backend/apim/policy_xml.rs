//! The API-scope APIM policy, written with an XML writer so that every value is escaped by
//! construction: CORS first (preflights are answered before anything else), `<base />`, the rate
//! limit (cheap, so it sheds floods before token checks), then token validation (azure-apim §5.5).

use quick_xml::Writer;
use quick_xml::events::{BytesEnd, BytesStart, BytesText, Event};

use crate::core::cors::Cors;
use crate::core::rate_limit::{ClientKey, Interval, RateLimit};

/// `<validate-jwt>` inputs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Jwt {
    pub openid_config_url: String,
    pub audiences: Vec<String>,
    pub issuers: Vec<String>,
}

/// The policy document; sections without a policy hold only `<base />`.
pub fn policy_xml(cors: Option<&Cors>, rate_limit: Option<&RateLimit>, jwt: Option<&Jwt>) -> String {
    let mut xml = Xml(Writer::new(Vec::new()));
    xml.open("policies", &[]);
    xml.open("inbound", &[]);
    if let Some(cors) = cors {
        cors_element(&mut xml, cors, jwt.is_some());
    }
    xml.empty("base", &[]);
    if let Some(limit) = rate_limit {
        let renewal = match limit.interval {
            Interval::Second => "1",
            Interval::Minute => "60",
        };
        let key = match &limit.client {
            ClientKey::RemoteAddress => "@(context.Request.IpAddress)".to_owned(),
            // Header names are checked tokens ([a-z0-9-]), safe inside the C# string literal.
            ClientKey::Header(h) => format!("@(context.Request.Headers.GetValueOrDefault(\"{h}\",\"anonymous\"))"),
        };
        let calls = limit.limit.to_string();
        xml.empty("rate-limit-by-key", &[("calls", &calls), ("renewal-period", renewal), ("counter-key", &key)]);
    }
    if let Some(jwt) = jwt {
        xml.open(
            "validate-jwt",
            &[
                ("header-name", "Authorization"),
                ("failed-validation-httpcode", "401"),
                ("failed-validation-error-message", "Unauthorized: a valid access token is required"),
                ("require-expiration-time", "true"),
                ("require-scheme", "Bearer"),
                ("require-signed-tokens", "true"),
            ],
        );
        xml.empty("openid-config", &[("url", &jwt.openid_config_url)]);
        xml.list("audiences", "audience", &jwt.audiences);
        xml.list("issuers", "issuer", &jwt.issuers);
        xml.close("validate-jwt");
    }
    xml.close("inbound");
    for section in ["backend", "outbound", "on-error"] {
        xml.open(section, &[]);
        xml.empty("base", &[]);
        xml.close(section);
    }
    xml.close("policies");
    String::from_utf8_lossy(&xml.0.into_inner()).into_owned()
}

fn cors_element(xml: &mut Xml, cors: &Cors, jwt: bool) {
    let credentials = if cors.allow_credentials { "true" } else { "false" };
    // Written, not left to a default the reference contradicts itself on: an unlisted origin's
    // request goes on without CORS headers, as on the other backends (the browser refuses it).
    xml.open("cors", &[("allow-credentials", credentials), ("terminate-unmatched-request", "false")]);
    xml.list("allowed-origins", "origin", &cors.origins);
    let max_age = cors.max_age.unwrap_or(0).to_string();
    xml.open("allowed-methods", &[("preflight-result-max-age", &max_age)]);
    for method in &cors.methods {
        xml.text_element("method", method);
    }
    xml.close("allowed-methods");
    let mut headers = cors.headers.clone();
    // The token travels in this header: a browser must be allowed to send it.
    if jwt && !headers.iter().any(|h| h.eq_ignore_ascii_case("Authorization")) {
        headers.push("Authorization".into());
    }
    xml.list("allowed-headers", "header", &headers);
    xml.close("cors");
}

/// A thin writer over a `Vec`: writing into memory cannot fail, so errors are dropped.
struct Xml(Writer<Vec<u8>>);

impl Xml {
    fn start<'a>(name: &'a str, attributes: &[(&str, &str)]) -> BytesStart<'a> {
        let mut start = BytesStart::new(name);
        for attribute in attributes {
            start.push_attribute(*attribute);
        }
        start
    }

    fn open(&mut self, name: &str, attributes: &[(&str, &str)]) {
        let _ = self.0.write_event(Event::Start(Self::start(name, attributes)));
    }

    fn empty(&mut self, name: &str, attributes: &[(&str, &str)]) {
        let _ = self.0.write_event(Event::Empty(Self::start(name, attributes)));
    }

    fn close(&mut self, name: &str) {
        let _ = self.0.write_event(Event::End(BytesEnd::new(name)));
    }

    fn text_element(&mut self, name: &str, text: &str) {
        self.open(name, &[]);
        let _ = self.0.write_event(Event::Text(BytesText::new(text)));
        self.close(name);
    }

    /// A list element with its items; none at all when empty (APIM refuses empty lists).
    fn list(&mut self, name: &str, item: &str, values: &[String]) {
        if values.is_empty() {
            return;
        }
        self.open(name, &[]);
        for value in values {
            self.text_element(item, value);
        }
        self.close(name);
    }
}
