//! The import of an API's document, from the document itself: Swagger 2.0 or OpenAPI 3.x, JSON or
//! YAML, read from its content (never guessed from the URL's name), and the `format` APIM's
//! `ApiCreateOrUpdateProperties` declares for each (`swagger-link-json`, `openapi+json-link`,
//! `openapi-link` by link; `swagger-json`, `openapi+json`, `openapi` inline).

use serde_json::Value;

use crate::config::ApimImportMode;

/// What a document is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    Swagger2,
    OpenApi3,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Syntax {
    Json,
    Yaml,
}

/// The `format` and `value` of the API's `PUT`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Import {
    pub format: &'static str,
    pub value: String,
}

/// The version and syntax of a document, or what was seen instead.
pub fn detect(bytes: &[u8]) -> Result<(Version, Syntax, Value), String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "a document that is not UTF-8 text".to_owned())?;
    let (document, syntax) = match serde_json::from_str::<Value>(text) {
        Ok(document) => (document, Syntax::Json),
        Err(_) => match serde_saphyr::from_str::<Value>(text) {
            Ok(document) if document.is_object() => (document, Syntax::Yaml),
            _ => {
                let start: String = text.trim_start().chars().take(40).collect();
                return Err(format!("neither JSON nor a YAML mapping (it starts {start:?})"));
            }
        },
    };
    let field = |name: &str| document.get(name).and_then(Value::as_str).map(str::to_owned);
    let version = match (field("swagger"), field("openapi")) {
        (Some(v), _) if v == "2.0" => Version::Swagger2,
        (_, Some(v)) if v.starts_with("3.") => Version::OpenApi3,
        (swagger, openapi) => {
            return Err(format!(
                "a {} document with neither swagger: \"2.0\" nor openapi: \"3.x\" (swagger: {swagger:?}, openapi: \
                 {openapi:?})",
                if syntax == Syntax::Json { "JSON" } else { "YAML" }
            ));
        }
    };
    Ok((version, syntax, document))
}

/// The import of the document at `url` whose content is `bytes`, in `mode`.
pub fn import(url: &str, mode: ApimImportMode, bytes: &[u8]) -> Result<Import, String> {
    let (version, syntax, document) = detect(bytes)?;
    let text = || String::from_utf8_lossy(bytes).into_owned();
    let import = |format, value| Ok(Import { format, value });
    match (mode, version, syntax) {
        (ApimImportMode::Link, Version::Swagger2, Syntax::Json) => import("swagger-link-json", url.into()),
        (ApimImportMode::Link, Version::OpenApi3, Syntax::Json) => import("openapi+json-link", url.into()),
        (ApimImportMode::Link, Version::OpenApi3, Syntax::Yaml) => import("openapi-link", url.into()),
        (ApimImportMode::Link, Version::Swagger2, Syntax::Yaml) => Err(
            "a Swagger 2.0 YAML document: APIM imports Swagger 2.0 by link only as JSON (set APIM_IMPORT_MODE=inline \
             to send it converted to JSON, or publish it as JSON)"
                .into(),
        ),
        (ApimImportMode::Inline, Version::Swagger2, Syntax::Json) => import("swagger-json", text()),
        (ApimImportMode::Inline, Version::Swagger2, Syntax::Yaml) => import("swagger-json", document.to_string()),
        (ApimImportMode::Inline, Version::OpenApi3, Syntax::Json) => import("openapi+json", text()),
        (ApimImportMode::Inline, Version::OpenApi3, Syntax::Yaml) => import("openapi", text()),
    }
}

/// Offline (`render`), where nothing is fetched: by link, the format by the file's name, marked as
/// a guess the operator replaces with what the document says.
pub fn guess(url: &str) -> Import {
    let path = url.split(['?', '#']).next().unwrap_or_default().to_ascii_lowercase();
    let format = if path.ends_with(".yaml") || path.ends_with(".yml") { "openapi-link" } else { "openapi+json-link" };
    Import { format, value: url.into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SWAGGER: &str = r#"{"swagger": "2.0", "info": {"title": "TMF620", "version": "4.0.0"}, "paths": {}}"#;
    const OPENAPI_JSON: &str = r#"{"openapi": "3.0.1", "info": {"title": "TMF620", "version": "5.0.0"}, "paths": {}}"#;
    const OPENAPI_YAML: &str = "openapi: 3.0.1\ninfo:\n  title: TMF620\n  version: 5.0.0\npaths: {}\n";
    const SWAGGER_YAML: &str = "swagger: '2.0'\ninfo:\n  title: TMF620\n  version: 4.0.0\npaths: {}\n";
    const URL: &str = "https://specs/tmf620.json";

    #[test]
    fn the_format_comes_from_the_document_not_its_name() {
        let link = |doc: &str| import(URL, ApimImportMode::Link, doc.as_bytes()).map(|i| i.format);
        assert_eq!(link(SWAGGER), Ok("swagger-link-json"));
        assert_eq!(link(OPENAPI_JSON), Ok("openapi+json-link"), "TMF v5: OpenAPI 3 in a .json");
        assert_eq!(link(OPENAPI_YAML), Ok("openapi-link"));
        assert!(link(SWAGGER_YAML).unwrap_err().contains("APIM_IMPORT_MODE=inline"));
        assert_eq!(import(URL, ApimImportMode::Link, OPENAPI_JSON.as_bytes()).unwrap().value, URL);
    }

    #[test]
    fn inline_sends_the_content_under_the_non_link_format() {
        let inline = |doc: &str| import(URL, ApimImportMode::Inline, doc.as_bytes()).unwrap();
        assert_eq!(inline(SWAGGER), Import { format: "swagger-json", value: SWAGGER.into() });
        assert_eq!(inline(OPENAPI_JSON).format, "openapi+json");
        assert_eq!(inline(OPENAPI_YAML), Import { format: "openapi", value: OPENAPI_YAML.into() });
        let converted = inline(SWAGGER_YAML);
        assert_eq!(converted.format, "swagger-json");
        assert_eq!(serde_json::from_str::<Value>(&converted.value).unwrap()["swagger"], "2.0");
    }

    #[test]
    fn what_is_not_a_document_says_what_was_seen() {
        let seen = detect(b"<html><body>Not Found</body></html>").unwrap_err();
        assert!(seen.contains("<html>"), "{seen}");
        let seen = detect(br#"{"openapi": "4.0"}"#).unwrap_err();
        assert!(seen.contains("\"4.0\""), "{seen}");
        assert!(detect(&[0xff, 0xfe]).is_err());
    }
}
