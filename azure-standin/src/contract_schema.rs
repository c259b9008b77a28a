//! Preparing the spec files for the validator: `$ref`s followed and made absolute as upstream
//! resolves them, and each definition read as a request must satisfy it (a `readOnly` property is
//! the service's to set; an object lists all it accepts).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::BASE;

/// A parameter, following its `$ref` into the file it names; with the file it was found in.
pub(super) fn resolve(documents: &BTreeMap<String, Value>, file: &str, raw: &Value) -> Result<(Value, String), String> {
    let Some(reference) = raw.get("$ref").and_then(Value::as_str) else { return Ok((raw.clone(), file.to_owned())) };
    let (relative, pointer) = reference.split_once('#').unwrap_or((reference, ""));
    let target = if relative.is_empty() { file.to_owned() } else { join(file, relative) };
    let doc = documents.get(&target).ok_or_else(|| format!("{file}: $ref to {target}, not in spec/"))?;
    let found = doc.pointer(pointer).ok_or_else(|| format!("{target}#{pointer} is not in spec/"))?;
    Ok((found.clone(), target))
}

/// `relative` resolved against the directory of `file` (both under `specification/`).
fn join(file: &str, relative: &str) -> String {
    let mut parts: Vec<&str> = file.split('/').collect();
    parts.pop();
    for part in relative.split('/') {
        match part {
            "." | "" => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.join("/")
}

/// A body schema from `origin` with its `$ref`s made absolute (the registry's URIs).
pub(super) fn rebase(schema: &Value, origin: &str) -> Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let (relative, pointer) = reference.split_once('#').unwrap_or((reference, ""));
            let file = if relative.is_empty() { origin.to_owned() } else { join(origin, relative) };
            json!({"$ref": format!("{BASE}{file}#{pointer}")})
        }
        None => schema.clone(),
    }
}

/// Names of the definitions used as `allOf` parts: they must not refuse their composite's
/// properties, so only the composite gets `unevaluatedProperties: false`.
pub(super) fn allof_targets(documents: &BTreeMap<String, Value>) -> BTreeSet<String> {
    fn walk(value: &Value, found: &mut BTreeSet<String>) {
        match value {
            Value::Object(map) => {
                for part in map.get("allOf").and_then(Value::as_array).into_iter().flatten() {
                    if let Some(r) = part.get("$ref").and_then(Value::as_str) {
                        found.extend(r.rsplit('/').next().map(String::from));
                    }
                }
                map.values().for_each(|v| walk(v, found));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, found)),
            _ => {}
        }
    }
    let mut found = BTreeSet::new();
    documents.values().for_each(|d| walk(d, &mut found));
    found
}

/// A spec file as a request must satisfy it: readOnly properties refused, unknown ones refused.
pub(super) fn for_requests(mut doc: Value, composed: &BTreeSet<String>) -> Value {
    if let Some(definitions) = doc.get_mut("definitions").and_then(Value::as_object_mut) {
        for (name, schema) in definitions.iter_mut() {
            tighten(schema, !composed.contains(name));
        }
    }
    doc
}

fn tighten(schema: &mut Value, closed: bool) {
    let Some(map) = schema.as_object_mut() else { return };
    if let Some(properties) = map.get_mut("properties").and_then(Value::as_object_mut) {
        for property in properties.values_mut() {
            if property.get("readOnly") == Some(&json!(true)) {
                // Set by the service: a request carrying it is refused.
                *property = json!({"not": {}, "description": "readOnly: set by the service"});
            } else {
                tighten(property, true);
            }
        }
        if closed && !map.contains_key("additionalProperties") {
            map.insert("unevaluatedProperties".into(), json!(false));
        }
    }
    if let Some(items) = map.get_mut("items") {
        tighten(items, true);
    }
    if let Some(parts) = map.get_mut("allOf").and_then(Value::as_array_mut) {
        parts.iter_mut().for_each(|p| tighten(p, false));
    }
}
