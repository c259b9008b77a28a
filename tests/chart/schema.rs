//! Just enough JSON Schema (draft-07) to check values.schema.json does what it says. `pattern` is
//! not checked; any other keyword it does not know is an error, so the schema cannot quietly rely on one.

use serde_json::Value;

const ANNOTATIONS: &[&str] = &["$schema", "title", "description", "default", "examples", "pattern"];

pub fn errors(schema: &Value, value: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    check(schema, value, "values", &mut errors);
    errors
}

fn check(schema: &Value, value: &Value, path: &str, errors: &mut Vec<String>) {
    let schema = schema.as_object().expect("a schema is an object");
    for (keyword, arg) in schema {
        let mut fail = |e: String| errors.push(format!("{path}: {e}"));
        match keyword.as_str() {
            k if ANNOTATIONS.contains(&k) => {}
            "type" => {
                let types: Vec<&str> = match arg {
                    Value::String(t) => vec![t.as_str()],
                    Value::Array(ts) => ts.iter().map(|t| t.as_str().unwrap()).collect(),
                    _ => panic!("type: {arg}"),
                };
                if !types.iter().any(|t| is_type(value, t)) {
                    fail(format!("{value} is not of type {types:?}"));
                }
            }
            "enum" => {
                if !arg.as_array().unwrap().contains(value) {
                    fail(format!("{value} is not one of {arg}"));
                }
            }
            "const" => {
                if arg != value {
                    fail(format!("{value} is not {arg}"));
                }
            }
            "minimum" => {
                if value.as_f64().is_some_and(|v| v < arg.as_f64().unwrap()) {
                    fail(format!("{value} < {arg}"));
                }
            }
            "maximum" => {
                if value.as_f64().is_some_and(|v| v > arg.as_f64().unwrap()) {
                    fail(format!("{value} > {arg}"));
                }
            }
            "minLength" => {
                if value.as_str().is_some_and(|v| (v.chars().count() as u64) < arg.as_u64().unwrap()) {
                    fail(format!("{value} is shorter than {arg}"));
                }
            }
            "maxLength" => {
                if value.as_str().is_some_and(|v| (v.chars().count() as u64) > arg.as_u64().unwrap()) {
                    fail(format!("{value} is longer than {arg}"));
                }
            }
            "required" => {
                if let Some(object) = value.as_object() {
                    for key in arg.as_array().unwrap() {
                        if !object.contains_key(key.as_str().unwrap()) {
                            fail(format!("{key} is required"));
                        }
                    }
                }
            }
            "properties" => {
                if let Some(object) = value.as_object() {
                    for (key, sub) in arg.as_object().unwrap() {
                        if let Some(v) = object.get(key) {
                            check(sub, v, &format!("{path}.{key}"), errors);
                        }
                    }
                }
            }
            "additionalProperties" => {
                if let Some(object) = value.as_object() {
                    let declared = schema.get("properties").and_then(Value::as_object);
                    for (key, v) in object {
                        if declared.is_some_and(|d| d.contains_key(key)) {
                            continue;
                        }
                        match arg {
                            Value::Bool(false) => errors.push(format!("{path}: {key} is not allowed")),
                            Value::Bool(true) => {}
                            sub => check(sub, v, &format!("{path}.{key}"), errors),
                        }
                    }
                }
            }
            "items" => {
                if let Some(items) = value.as_array() {
                    for (i, item) in items.iter().enumerate() {
                        check(arg, item, &format!("{path}[{i}]"), errors);
                    }
                }
            }
            "if" => {
                let mut probe = Vec::new();
                check(arg, value, path, &mut probe);
                let branch = if probe.is_empty() { "then" } else { "else" };
                if let Some(sub) = schema.get(branch) {
                    check(sub, value, path, errors);
                }
            }
            "then" | "else" => {}
            other => panic!("values.schema.json uses `{other}`, which tests/chart/schema.rs does not check"),
        }
    }
}

fn is_type(value: &Value, t: &str) -> bool {
    match t {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "number" => value.is_number(),
        "integer" => value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|f| f.fract() == 0.0),
        _ => panic!("type {t}"),
    }
}
