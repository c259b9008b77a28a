//! `$filter` of `GET …/apis` (Api_ListByService), to the extent the parameter's own table in the
//! spec describes it: the fields `name`, `displayName`, `description`, `serviceUrl`, `path` with
//! `eq ne gt ge lt le` and `startswith`, `endswith`, `contains`, `substringof`; `isCurrent` with
//! `eq ne`; clauses joined by `and`. Anything else is refused, never ignored: a client must not
//! believe the stand-in filtered what it did not. Text is compared as written (ordinal).

use serde_json::Value;

/// A parsed filter: every clause must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter(Vec<Clause>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Clause {
    Compare { field: Field, op: Op, value: String },
    Function { function: Function, field: Field, value: String },
    Current { equal: bool, value: bool },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Name,
    DisplayName,
    Description,
    ServiceUrl,
    Path,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Function {
    StartsWith,
    EndsWith,
    Contains,
    SubstringOf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Text(String),
    Open,
    Close,
    Comma,
}

fn tokens(text: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {}
            '(' => out.push(Token::Open),
            ')' => out.push(Token::Close),
            ',' => out.push(Token::Comma),
            '\'' => {
                let mut literal = String::new();
                loop {
                    match chars.next() {
                        None => return Err("a text literal is not closed".into()),
                        // OData doubles a quote inside a literal.
                        Some('\'') if chars.peek() == Some(&'\'') => {
                            chars.next();
                            literal.push('\'');
                        }
                        Some('\'') => break,
                        Some(other) => literal.push(other),
                    }
                }
                out.push(Token::Text(literal));
            }
            c if c.is_ascii_alphanumeric() || c == '_' => {
                let mut word = c.to_string();
                while let Some(&next) = chars.peek().filter(|n| n.is_ascii_alphanumeric() || **n == '_') {
                    word.push(next);
                    chars.next();
                }
                out.push(Token::Word(word));
            }
            other => return Err(format!("unexpected character {other:?}")),
        }
    }
    Ok(out)
}

fn field(word: &str) -> Result<Field, String> {
    Ok(match word {
        "name" => Field::Name,
        "displayName" => Field::DisplayName,
        "description" => Field::Description,
        "serviceUrl" => Field::ServiceUrl,
        "path" => Field::Path,
        other => return Err(format!("field {other:?} cannot be filtered on")),
    })
}

/// Parses a `$filter` value; `Err` says what is not supported.
pub fn parse(text: &str) -> Result<Filter, String> {
    let tokens = tokens(text)?;
    let mut clauses = Vec::new();
    for part in tokens.split(|t| *t == Token::Word("and".into())) {
        clauses.push(clause(part)?);
    }
    Ok(Filter(clauses))
}

fn clause(tokens: &[Token]) -> Result<Clause, String> {
    use Token::{Close, Comma, Open, Text, Word};
    let word = |w: &str| Word(w.to_owned());
    match tokens {
        [Word(f), Word(op), Word(v)] if f == "isCurrent" && (v == "true" || v == "false") => match op.as_str() {
            "eq" | "ne" => Ok(Clause::Current { equal: op == "eq", value: v == "true" }),
            other => Err(format!("isCurrent supports eq and ne, not {other}")),
        },
        [Word(f), Word(op), Text(value)] => {
            let op = match op.as_str() {
                "eq" => Op::Eq,
                "ne" => Op::Ne,
                "gt" => Op::Gt,
                "ge" => Op::Ge,
                "lt" => Op::Lt,
                "le" => Op::Le,
                other => return Err(format!("operator {other:?} is not supported")),
            };
            Ok(Clause::Compare { field: field(f)?, op, value: value.clone() })
        }
        [Word(f), Open, Text(value), Comma, Word(name), Close] if *f == "substringof" => {
            Ok(Clause::Function { function: Function::SubstringOf, field: field(name)?, value: value.clone() })
        }
        [Word(f), Open, Word(name), Comma, Text(value), Close] => {
            let function = match f.as_str() {
                "startswith" => Function::StartsWith,
                "endswith" => Function::EndsWith,
                "contains" => Function::Contains,
                other => return Err(format!("function {other:?} is not supported")),
            };
            Ok(Clause::Function { function, field: field(name)?, value: value.clone() })
        }
        _ if tokens.contains(&word("or")) || tokens.contains(&word("not")) => {
            Err("or and not are not supported by the stand-in (only clauses joined by and)".into())
        }
        _ => Err("not a clause of the spec's table (field operator 'text', or function(field,'text'))".into()),
    }
}

impl Filter {
    /// Whether the API `name` with these `properties` passes every clause.
    pub fn matches(&self, name: &str, properties: &Value) -> bool {
        let text = |field: Field| -> String {
            let key = match field {
                Field::Name => return name.to_owned(),
                Field::DisplayName => "displayName",
                Field::Description => "description",
                Field::ServiceUrl => "serviceUrl",
                Field::Path => "path",
            };
            properties.get(key).and_then(Value::as_str).unwrap_or_default().to_owned()
        };
        self.0.iter().all(|clause| match clause {
            Clause::Current { equal, value } => {
                let current = properties.get("isCurrent").and_then(Value::as_bool).unwrap_or(true);
                (current == *value) == *equal
            }
            Clause::Compare { field, op, value } => {
                let seen = text(*field);
                match op {
                    Op::Eq => seen == *value,
                    Op::Ne => seen != *value,
                    Op::Gt => seen > *value,
                    Op::Ge => seen >= *value,
                    Op::Lt => seen < *value,
                    Op::Le => seen <= *value,
                }
            }
            Clause::Function { function, field, value } => {
                let seen = text(*field);
                match function {
                    Function::StartsWith => seen.starts_with(value.as_str()),
                    Function::EndsWith => seen.ends_with(value.as_str()),
                    Function::Contains | Function::SubstringOf => seen.contains(value.as_str()),
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::parse;
    use serde_json::json;

    #[test]
    fn the_specs_table_is_understood() {
        let api = json!({"path": "ns/a", "displayName": "A", "serviceUrl": "https://mesh/a", "isCurrent": true});
        let yes = |f: &str| parse(f).unwrap_or_else(|e| panic!("{f}: {e}")).matches("oda-ns-a", &api);
        assert!(yes("startswith(name,'oda-')"));
        assert!(!yes("startswith(name,'other-')"));
        assert!(yes("startswith(name, 'oda-') and isCurrent eq true"));
        assert!(yes("path eq 'ns/a' and displayName ne 'B'"));
        assert!(yes("substringof('mesh',serviceUrl)"));
        assert!(yes("endswith(name,'-a') and contains(path,'/')"));
        assert!(yes("name ge 'oda-' and name lt 'oda.'"));
        assert!(!yes("isCurrent ne true"));
        assert!(yes("displayName eq 'A'"));
        assert!(!parse("name eq 'it''s'").unwrap().matches("it", &api));
        assert!(parse("name eq 'it''s'").unwrap().matches("it's", &api));
    }

    #[test]
    fn what_the_table_does_not_say_is_refused() {
        for refused in [
            "startswith(name,'a') or startswith(name,'b')",
            "not startswith(name,'a')",
            "(startswith(name,'a'))",
            "tolower(name) eq 'a'",
            "apiRevision eq '1'",
            "isCurrent gt true",
            "name has 'a'",
            "name eq 'open",
            "name eq oda",
            "",
        ] {
            assert!(parse(refused).is_err(), "{refused:?} should be refused");
        }
    }
}
