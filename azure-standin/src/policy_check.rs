//! The checks APIM makes of a policy document, from Microsoft's policy reference pages (cited in
//! spec/SOURCES.md): well-formed XML with root `<policies>`, only elements of the policies the
//! operator emits, `cors` with its boolean attributes, exactly one non-empty `allowed-origins`, no
//! wildcard-host origin and no empty list, `validate-jwt` with at least one audience,
//! `rate-limit-by-key` with its required attributes, and none of the elements the reference
//! operator wrote that APIM refuses (`<max-age>`, `<allow-credentials>` in `<cors>`).

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

/// One element: its name, attributes, text and children.
struct Element {
    name: String,
    attributes: Vec<(String, String)>,
    text: String,
    children: Vec<Element>,
}

/// `Ok` for a policy document APIM would take, else the message of its 400.
pub fn check(xml: &str) -> Result<(), String> {
    let root = parse(xml)?;
    if root.name != "policies" {
        return Err(format!("the root element must be 'policies', not '{}'", root.name));
    }
    walk(&root)
}

fn parse(xml: &str) -> Result<Element, String> {
    let mut reader = Reader::from_str(xml);
    let mut open: Vec<Element> = Vec::new();
    let mut root = None;
    loop {
        let event = reader.read_event().map_err(|e| format!("the policy is not well-formed XML: {e}"))?;
        let (start, empty) = match &event {
            Event::Eof => break,
            Event::Start(e) => (e, false),
            Event::Empty(e) => (e, true),
            Event::End(_) => {
                let done = open.pop().ok_or("an end tag without its start")?;
                close(&mut open, &mut root, done)?;
                continue;
            }
            Event::Text(t) => {
                if let Some(parent) = open.last_mut() {
                    parent.text.push_str(t);
                }
                continue;
            }
            _ => continue,
        };
        let name = start.name();
        let name: &str = name.as_ref();
        let name = name.to_owned();
        let mut attributes = Vec::new();
        for attribute in start.attributes() {
            let attribute = attribute.map_err(|e| format!("a malformed attribute in '{name}': {e}"))?;
            let key: &str = attribute.key.as_ref();
            let key = key.to_owned();
            attributes.push((key, attribute.value.to_string()));
        }
        let element = Element { name, attributes, text: String::new(), children: Vec::new() };
        if empty { close(&mut open, &mut root, element)? } else { open.push(element) }
    }
    root.ok_or_else(|| "the policy is empty".into())
}

fn close(open: &mut [Element], root: &mut Option<Element>, done: Element) -> Result<(), String> {
    match open.last_mut() {
        Some(parent) => parent.children.push(done),
        None if root.is_some() => return Err("the policy has more than one root element".into()),
        None => *root = Some(done),
    }
    Ok(())
}

/// The rules of the policy reference pages (cors, validate-jwt, rate-limit-by-key) on each element.
fn walk(element: &Element) -> Result<(), String> {
    let name = element.name.as_str();
    if !ALLOWED.contains(&name) {
        return Err(format!("element '{name}' is not allowed here"));
    }
    let attribute = |key: &str| element.attributes.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    let count = |child: &str| element.children.iter().filter(|c| c.name == child).count();
    let boolean = |key: &str| match attribute(key) {
        None | Some("true" | "false") => Ok(()),
        Some(other) => Err(format!("'{name}' attribute '{key}' must be true or false, not '{other}'")),
    };
    match name {
        "cors" => {
            if let Some(bad) =
                element.children.iter().find(|c| matches!(c.name.as_str(), "max-age" | "allow-credentials"))
            {
                return Err(format!(
                    "'{}' is not a valid child of 'cors' (allow-credentials is an attribute, max-age is \
                     preflight-result-max-age of allowed-methods)",
                    bad.name
                ));
            }
            boolean("allow-credentials")?;
            boolean("terminate-unmatched-request")?;
            if count("allowed-origins") != 1 {
                return Err("'cors' requires exactly one 'allowed-origins' element".into());
            }
        }
        "allowed-origins" | "allowed-methods" | "allowed-headers" | "expose-headers" | "audiences" | "issuers" => {
            let item = match name {
                "allowed-origins" => "origin",
                "allowed-methods" => "method",
                "audiences" => "audience",
                "issuers" => "issuer",
                _ => "header",
            };
            if count(item) == 0 {
                return Err(format!("'{name}' requires at least one '{item}' element"));
            }
        }
        "origin" => {
            if let Some(problem) = origin_problem(element.text.trim()) {
                return Err(problem);
            }
        }
        "rate-limit-by-key" => {
            for required in ["calls", "renewal-period", "counter-key"] {
                if attribute(required).is_none() {
                    return Err(format!("'rate-limit-by-key' requires the attribute '{required}'"));
                }
            }
        }
        "validate-jwt" if count("audiences") != 1 => {
            return Err("'validate-jwt' requires an 'audiences' element with at least one 'audience'".into());
        }
        _ => {}
    }
    element.children.iter().try_for_each(walk)
}

/// `*` or one origin (scheme, host, optional port): the reference allows no wildcard host.
pub fn origin_problem(origin: &str) -> Option<String> {
    let host = origin.split_once("://").map(|(_, rest)| rest)?;
    host.contains('*').then(|| format!("origin '{origin}': only '*' or a single origin is allowed, no wildcard host"))
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
        let cors = |inner: &str| format!("<policies><inbound><cors>{inner}</cors></inbound></policies>");
        assert!(check(&cors("<allowed-origins/>")).unwrap_err().contains("at least one 'origin'"));
        let origins = "<allowed-origins><origin>*</origin></allowed-origins>";
        assert!(check(&cors(&format!("{origins}<allowed-methods/>"))).unwrap_err().contains("'method'"));
        assert!(check(&cors(origins)).is_ok());
        let wildcard = cors("<allowed-origins><origin>https://*.example.org</origin></allowed-origins>");
        assert!(check(&wildcard).unwrap_err().contains("wildcard host"));
        let jwt = "<policies><inbound><validate-jwt><openid-config url=\"https://i\"/><audiences/></validate-jwt></inbound></policies>";
        assert!(check(jwt).unwrap_err().contains("'audience'"));
        let attr = "<policies><inbound><cors terminate-unmatched-request=\"maybe\">x</cors></inbound></policies>";
        assert!(check(attr).unwrap_err().contains("true or false"));
    }
}
