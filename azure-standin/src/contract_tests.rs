use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{Violation, contract};

const SERVICE: &str = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/canvas/providers/Microsoft.ApiManagement/service/canvas-apim";

fn check(method: &str, path: &str, if_match: Option<&str>, body: Option<Value>) -> Result<bool, Violation> {
    let query = BTreeMap::from([("api-version".to_owned(), "2024-05-01".to_owned())]);
    let if_match = if_match.map(String::from);
    let header = move |name: &str| if name.eq_ignore_ascii_case("if-match") { if_match.clone() } else { None };
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    contract().expect("the spec loads").check(method, &format!("{SERVICE}{path}"), &query, &header, body.as_bytes())
}

fn api(properties: Value) -> Option<Value> {
    let mut base = json!({"displayName": "p", "path": "p", "protocols": ["https"], "serviceUrl": "https://mesh/p",
        "subscriptionRequired": false, "format": "openapi+json-link", "value": "https://specs/p.json",
        "description": "d"});
    for (k, v) in properties.as_object().into_iter().flatten() {
        base[k] = v.clone();
    }
    Some(json!({"properties": base}))
}

fn refused(result: Result<bool, Violation>, target: &str) -> Violation {
    let violation = result.expect_err("the contract refuses it");
    assert_eq!(violation.target, target, "{violation:?}");
    violation
}

#[test]
fn the_operators_requests_conform() {
    assert_eq!(check("PUT", "/apis/oda-c-p", None, api(json!({}))), Ok(true));
    assert_eq!(check("HEAD", "/apis/oda-c-p", None, None), Ok(true));
    let policy = json!({"properties": {"format": "xml", "value": "<policies/>"}});
    assert_eq!(check("PUT", "/apis/oda-c-p/policies/policy", Some("*"), Some(policy)), Ok(true));
    assert_eq!(check("DELETE", "/apis/oda-c-p", Some("*"), None), Ok(true));
    let provider = json!({"properties": {"displayName": "canvas", "metadataEndpoint": "https://idp/.well-known",
        "clientId": "c"}});
    assert_eq!(check("PUT", "/openidConnectProviders/canvas", None, Some(provider)), Ok(true));
    assert_eq!(check("GET", "", None, None), Ok(true));
    assert_eq!(check("GET", "/elsewhere/x", None, None), Ok(false), "not in the extracts");
}

#[test]
fn the_spec_refuses_what_microsoft_publishes_as_invalid() {
    let long = "x".repeat(301);
    let v = refused(check("PUT", "/apis/a", None, api(json!({"displayName": long}))), "properties.displayName");
    assert!(v.message.contains("longer than 300"), "{v:?}");
    refused(check("PUT", "/apis/a", None, api(json!({"format": "swagger-yaml"}))), "properties.format");
    refused(check("PUT", "/apis/a", None, api(json!({"colour": "red"}))), "properties");
    refused(
        check("PUT", "/apis/a", None, api(json!({"provisioningState": "Succeeded"}))),
        "properties.provisioningState",
    );
    refused(
        check("PUT", "/apis/a", None, api(json!({"subscriptionRequired": "yes"}))),
        "properties.subscriptionRequired",
    );
    refused(check("PUT", "/apis/a", None, Some(json!({"properties": {"displayName": "p"}}))), "properties");
    refused(check("PUT", "/apis/a", None, None), "parameters");
    refused(check("PUT", "/apis/a:b", None, api(json!({}))), "apiId");
    refused(check("DELETE", "/apis/a", None, None), "If-Match");
    refused(
        check("PUT", "/apis/a/policies/other", None, Some(json!({"properties": {"value": "<policies/>"}}))),
        "policyId",
    );
    refused(
        check("PUT", "/apis/a/policies/policy", None, Some(json!({"properties": {"format": "json", "value": ""}}))),
        "properties.format",
    );
    let provider = json!({"properties": {"displayName": "x".repeat(51), "metadataEndpoint": "m", "clientId": "c"}});
    refused(check("PUT", "/openidConnectProviders/canvas", None, Some(provider)), "properties.displayName");
    assert_eq!(check("POST", "/apis/a", None, None).map_err(|v| v.status), Err(405));
}

#[test]
fn the_api_version_is_the_specs() {
    let query = BTreeMap::from([("api-version".to_owned(), "2022-08-01".to_owned())]);
    let none = |_: &str| None;
    let v = contract().unwrap().check("GET", SERVICE, &query, &none, b"").unwrap_err();
    assert_eq!(v.code, "InvalidApiVersionParameter");
    let v = contract().unwrap().check("GET", SERVICE, &BTreeMap::new(), &none, b"").unwrap_err();
    assert_eq!(v.code, "MissingApiVersionParameter");
}

#[test]
fn the_list_of_apis_takes_the_specs_query_parameters() {
    let list = |pairs: &[(&str, &str)]| {
        let mut query = BTreeMap::from([("api-version".to_owned(), "2024-05-01".to_owned())]);
        query.extend(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let none = |_: &str| None;
        contract().unwrap().check("GET", &format!("{SERVICE}/apis"), &query, &none, b"")
    };
    assert_eq!(list(&[]), Ok(true));
    let paged = [("$top", "100"), ("$skip", "200"), ("$filter", "startswith(name,'oda-')")];
    assert_eq!(list(&paged), Ok(true));
    assert_eq!(list(&[("expandApiVersionSet", "false")]), Ok(true));
    for (name, value) in [("$top", "0"), ("$top", "ten"), ("$skip", "-1"), ("expandApiVersionSet", "maybe")] {
        let v = list(&[(name, value)]).expect_err("the spec refuses it");
        assert_eq!(v.target, name, "{v:?}");
    }
    assert_eq!(check("POST", "/apis", None, None).map_err(|v| v.status), Err(405));
}
