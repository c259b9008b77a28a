//! The checks APIM makes of a policy document that the operator relies on: well-formed XML with
//! root `<policies>`, only elements of the policies the operator emits, and none of the elements
//! the reference operator wrote that APIM refuses (`<max-age>`, `<allow-credentials>` in `<cors>`).

use quick_xml::Reader;
use quick_xml::events::Event;

const ALLOWED: &[&str] = &[
    "policies",
    "inbound",
    "backend",
    "outbound",
    "on-error",
    "base",
    "cors",
    "allowed-origins",
    "origin",
    "allowed-methods",
    "method",
    "allowed-headers",
    "header",
    "expose-headers",
    "rate-limit-by-key",
    "validate-jwt",
    "openid-config",
    "audiences",
    "audience",
    "issuers",
    "issuer",
    "required-claims",
    "claim",
    "value",
    "validate-azure-ad-token",
    "client-application-ids",
    "application-id",
    "quota-by-key",
];

/// `Ok` for a policy document APIM would take, else the message of its 400.
pub fn check(xml: &str) -> Result<(), String> {
    let mut reader = Reader::from_str(xml);
    let mut path: Vec<String> = Vec::new();
    let mut root = None;
    loop {
        let event = reader.read_event().map_err(|e| format!("the policy is not well-formed XML: {e}"))?;
        let (name, empty) = match &event {
            Event::Eof => break,
            Event::Start(e) => (e.name(), false),
            Event::Empty(e) => (e.name(), true),
            Event::End(_) => {
                path.pop();
                continue;
            }
            _ => continue,
        };
        let name: &str = name.as_ref();
        let name = name.to_owned();
        if path.is_empty() {
            if root.is_some() {
                return Err("the policy has more than one root element".into());
            }
            root = Some(name.clone());
        }
        if path.last().map(String::as_str) == Some("cors") && matches!(name.as_str(), "max-age" | "allow-credentials") {
            return Err(format!(
                "'{name}' is not a valid child of 'cors' (allow-credentials is an attribute, max-age is \
                 preflight-result-max-age of allowed-methods)"
            ));
        }
        if !ALLOWED.contains(&name.as_str()) {
            return Err(format!("element '{name}' is not allowed here"));
        }
        if !empty {
            path.push(name);
        }
    }
    match root.as_deref() {
        Some("policies") => Ok(()),
        Some(other) => Err(format!("the root element must be 'policies', not '{other}'")),
        None => Err("the policy is empty".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn what_apim_refuses_is_refused() {
        assert!(check("<policies><inbound><base/></inbound></policies>").is_ok());
        assert!(check("<policies><inbound><base/></policies>").is_err(), "not well-formed");
        assert!(check("<policy/>").is_err());
        let reference = "<policies><inbound><cors><allowed-origins><origin>*</origin></allowed-origins><max-age>3600</max-age></cors></inbound></policies>";
        assert!(check(reference).unwrap_err().contains("max-age"));
        assert!(check("<policies><inbound><evil/></inbound></policies>").is_err());
    }
}
