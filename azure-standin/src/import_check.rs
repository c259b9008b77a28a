//! The import APIM performs on `PUT …/apis/{apiId}`: the document downloaded (by link) or taken
//! from `value` (inline) and parsed as the declared `format` says (Swagger 2.0 JSON for
//! `swagger-*`, OpenAPI 3 JSON for `openapi+json*`, OpenAPI 3 YAML for `openapi`/`openapi-link`).
//! A document of another kind than declared is refused, as APIM's import fails on it. The
//! stand-in downloads only the documents it hosts (`/documents/{name}` on its control listener):
//! tests have no other server, and a URL it cannot read is refused as APIM refuses one.

use std::collections::BTreeMap;

use serde_json::Value;

/// Documents the stand-in hosts from the start, by name.
pub fn builtin() -> BTreeMap<String, String> {
    let openapi_json =
        r#"{"openapi": "3.0.1", "info": {"title": "TMF620 Product Catalog", "version": "5.0.0"}, "paths": {}}"#;
    let swagger = r#"{"swagger": "2.0", "info": {"title": "TMF620 Product Catalog", "version": "4.0.0"}, "paths": {}}"#;
    let openapi_yaml = "openapi: 3.0.1\ninfo:\n  title: TMF620 Product Catalog\n  version: 5.0.0\npaths: {}\n";
    BTreeMap::from([
        ("tmf620.json".to_owned(), openapi_json.to_owned()),
        ("tmf620.swagger.json".to_owned(), swagger.to_owned()),
        ("tmf620.yaml".to_owned(), openapi_yaml.to_owned()),
    ])
}

/// `Ok` when the document `value` names (or is) parses as `format` declares, else APIM's message.
pub fn check(format: &str, value: &str, hosted: &BTreeMap<String, String>) -> Result<(), String> {
    let (link, expected) = match format {
        "swagger-link-json" => (true, Kind::Swagger2Json),
        "swagger-json" => (false, Kind::Swagger2Json),
        "openapi+json-link" => (true, Kind::OpenApi3Json),
        "openapi+json" => (false, Kind::OpenApi3Json),
        "openapi-link" => (true, Kind::OpenApi3Yaml),
        "openapi" => (false, Kind::OpenApi3Yaml),
        other => return Err(format!("the stand-in does not import '{other}' documents")),
    };
    let content = if link {
        let name = value.split_once("/documents/").map(|(_, name)| name).unwrap_or_default();
        hosted.get(name).ok_or_else(|| format!("Unable to download the document at '{value}'."))?
    } else {
        value
    };
    let found = kind(content);
    if found == Some(expected) {
        return Ok(());
    }
    Err(format!(
        "The document is not a valid {expected:?} document for format '{format}' (it is {}).",
        found.map_or("neither Swagger 2.0 nor OpenAPI 3 in JSON or YAML".to_owned(), |k| format!("{k:?}"))
    ))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Swagger2Json,
    OpenApi3Json,
    OpenApi3Yaml,
    Swagger2Yaml,
}

/// What a document is; YAML by its top-level `openapi:`/`swagger:` key (no YAML parser here).
fn kind(content: &str) -> Option<Kind> {
    if let Ok(document) = serde_json::from_str::<Value>(content) {
        let field = |name: &str| document.get(name).and_then(Value::as_str).map(str::to_owned);
        return match (field("swagger"), field("openapi")) {
            (Some(v), _) if v == "2.0" => Some(Kind::Swagger2Json),
            (_, Some(v)) if v.starts_with("3.") => Some(Kind::OpenApi3Json),
            _ => None,
        };
    }
    content.lines().find_map(|line| {
        let value = |key: &str| line.strip_prefix(key).map(|v| v.trim().trim_matches(['"', '\'']).to_owned());
        match (value("swagger:"), value("openapi:")) {
            (Some(v), _) if v == "2.0" => Some(Kind::Swagger2Yaml),
            (_, Some(v)) if v.starts_with("3.") => Some(Kind::OpenApi3Yaml),
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_imported_under_the_wrong_format_is_refused() {
        let hosted = builtin();
        let url = |name: &str| format!("http://127.0.0.1:1/documents/{name}");
        assert_eq!(check("openapi+json-link", &url("tmf620.json"), &hosted), Ok(()));
        assert_eq!(check("swagger-link-json", &url("tmf620.swagger.json"), &hosted), Ok(()));
        assert_eq!(check("openapi-link", &url("tmf620.yaml"), &hosted), Ok(()));
        // The bug of issue 23: every .json declared Swagger 2.0.
        assert!(check("swagger-link-json", &url("tmf620.json"), &hosted).unwrap_err().contains("OpenApi3Json"));
        assert!(check("openapi-link", &url("missing.json"), &hosted).unwrap_err().contains("Unable to download"));
        assert_eq!(check("openapi", &hosted["tmf620.yaml"], &hosted), Ok(()));
        assert!(check("openapi+json", "<html/>", &hosted).is_err());
    }
}
