//! `GET …/service/{serviceName}/apis` (Api_ListByService): an `ApiCollection` page (`value`,
//! `count`, `nextLink`) of the service's APIs in id order, `$filter` as `filter.rs` reads it,
//! `$skip`, and `$top` honoured up to the page cap (100, as the service is reported to answer; a
//! test may lower it), the rest behind `nextLink`. Items are `ApiContract`s: no ETag per item.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::state::{ServiceKey, State};

/// The most APIs one page holds unless a test lowers it.
pub const PAGE_CAP: usize = 100;

fn refused(message: &str) -> Response {
    let body = json!({"error": {"code": "ValidationError", "message": message, "target": "$filter",
        "details": [{"code": "ValidationError", "target": "$filter", "message": message}]}});
    (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
}

/// One page of the list; `base` is the listener's own URL (for `nextLink`), `path` the request's.
pub fn list_apis(
    state: &State,
    service: &ServiceKey,
    (base, path): (&str, &str),
    query: &BTreeMap<String, String>,
) -> Response {
    if query.contains_key("tags") {
        // The stand-in keeps no tags: answering without them would pretend it had included them.
        return refused("tags: the stand-in holds no tags and does not answer this parameter");
    }
    let filter = match query.get("$filter").map(|f| crate::filter::parse(f)) {
        Some(Err(why)) => return refused(&format!("$filter is not supported: {why}")),
        Some(Ok(filter)) => Some(filter),
        None => None,
    };
    let number = |name: &str| query.get(name).and_then(|v| v.parse::<usize>().ok());
    let skip = number("$skip").unwrap_or(0);
    let page = number("$top").unwrap_or(state.page_cap).min(state.page_cap).max(1);
    let matching: Vec<(&String, &Value)> = state
        .apis
        .iter()
        .filter(|((s, _), _)| s == service)
        .map(|((_, id), api)| (id, &api.properties))
        .filter(|(id, properties)| filter.as_ref().is_none_or(|f| f.matches(id, properties)))
        .collect();
    let value: Vec<Value> = matching
        .iter()
        .skip(skip)
        .take(page)
        .map(|(id, properties)| {
            json!({"id": format!("{path}/{id}"), "type": "Microsoft.ApiManagement/service/apis", "name": id,
                "properties": properties})
        })
        .collect();
    let next = skip + value.len();
    let next_link = if next < matching.len() {
        let mut rest: BTreeMap<String, String> = query.clone();
        rest.insert("$skip".into(), next.to_string());
        let query: Vec<String> = rest.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect();
        format!("{base}{path}?{}", query.join("&"))
    } else {
        // As the spec's example shows the last page.
        String::new()
    };
    axum::Json(json!({"value": value, "count": matching.len(), "nextLink": next_link})).into_response()
}

/// Percent-encodes a query component (everything but unreserved characters and `$`).
pub fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'$' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// Decodes a query component (`%XX`, and `+` as a space as forms send it).
pub fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::{decode, encode};

    #[test]
    fn query_components_round_trip() {
        let filter = "startswith(name,'oda-') and isCurrent eq true";
        assert_eq!(decode(&encode(filter)), filter);
        assert_eq!(decode("a%2Cb+c%2"), "a,b c%2");
        assert_eq!(encode("$top"), "$top");
    }
}
