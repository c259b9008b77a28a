//! Just enough Go template to render this chart, strictly.

use std::collections::BTreeMap;

use serde_json::Value;

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Action(String),
    If(String, Vec<Node>, Vec<Node>),
    With(String, Vec<Node>, Vec<Node>),
}

#[derive(Default)]
pub struct Templates {
    files: BTreeMap<String, Vec<Node>>,
    defines: BTreeMap<String, Vec<Node>>,
}

impl Templates {
    pub fn add(&mut self, name: &str, source: &str) {
        let tokens = lex(source, name);
        let mut at = 0;
        let mut nodes = Vec::new();
        while at < tokens.len() {
            match &tokens[at] {
                Token::Action(a) if a.starts_with("define ") => {
                    let define = literal(a.trim_start_matches("define ").trim(), name);
                    at += 1;
                    let (body, end) = parse(&tokens, &mut at, name);
                    assert_eq!(end.as_deref(), Some("end"), "{name}: define {define} has no end");
                    self.defines.insert(define, body);
                }
                _ => {
                    let (mut list, end) = parse(&tokens, &mut at, name);
                    nodes.append(&mut list);
                    if let Some(end) = end {
                        panic!("{name}: unexpected {{{{ {end} }}}}")
                    }
                }
            }
        }
        self.files.insert(name.to_owned(), nodes);
    }

    pub fn names(&self) -> Vec<String> {
        self.files.keys().cloned().collect()
    }

    pub fn render(&self, name: &str, root: &Value) -> String {
        let mut out = String::new();
        self.render_nodes(&self.files[name], root, &mut out, name);
        out
    }

    fn render_nodes(&self, nodes: &[Node], dot: &Value, out: &mut String, file: &str) {
        for node in nodes {
            match node {
                Node::Text(t) => out.push_str(t),
                Node::Action(expr) => out.push_str(&print(&self.eval(expr, dot, file), expr, file)),
                Node::If(cond, then, otherwise) => {
                    let branch = if truthy(&self.eval(cond, dot, file)) { then } else { otherwise };
                    self.render_nodes(branch, dot, out, file);
                }
                Node::With(expr, body, otherwise) => {
                    let value = self.eval(expr, dot, file);
                    if truthy(&value) {
                        self.render_nodes(body, &value, out, file);
                    } else {
                        self.render_nodes(otherwise, dot, out, file);
                    }
                }
            }
        }
    }

    /// A pipeline: `cmd | cmd ...`, each command's result the last argument of the next.
    fn eval(&self, expr: &str, dot: &Value, file: &str) -> Value {
        let mut piped: Option<Value> = None;
        for command in split_top(expr, '|') {
            let words = words(command.trim(), file);
            let first = &words[0];
            let is_function = first.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && !matches!(first.as_str(), "true" | "false");
            let value = if is_function {
                let mut args: Vec<Value> = words[1..].iter().map(|w| self.term(w, dot, file)).collect();
                args.extend(piped.take());
                self.call(first, args, file)
            } else {
                assert!(words.len() == 1 && piped.is_none(), "{file}: cannot evaluate `{expr}`");
                self.term(first, dot, file)
            };
            piped = Some(value);
        }
        piped.unwrap_or_else(|| panic!("{file}: empty action"))
    }

    fn term(&self, word: &str, dot: &Value, file: &str) -> Value {
        if let Some(inner) = word.strip_prefix('(').and_then(|w| w.strip_suffix(')')) {
            return self.eval(inner, dot, file);
        }
        if word.starts_with('"') {
            return Value::String(literal(word, file));
        }
        if let Ok(n) = word.parse::<i64>() {
            return n.into();
        }
        match word {
            "true" => return true.into(),
            "false" => return false.into(),
            "." => return dot.clone(),
            _ => {}
        }
        let path = word.strip_prefix('.').unwrap_or_else(|| panic!("{file}: unsupported term `{word}`"));
        let mut value = dot;
        for field in path.split('.') {
            value = value
                .get(field)
                .unwrap_or_else(|| panic!("{file}: `{word}`: there is no `{field}` (helm would print nothing)"));
        }
        value.clone()
    }

    fn call(&self, function: &str, args: Vec<Value>, file: &str) -> Value {
        let arity = |n: usize| assert_eq!(args.len(), n, "{file}: {function} takes {n} arguments: {args:?}");
        match function {
            "include" => {
                arity(2);
                let name = args[0].as_str().unwrap();
                let body = self.defines.get(name).unwrap_or_else(|| panic!("{file}: no template {name:?}"));
                let mut out = String::new();
                self.render_nodes(body, &args[1], &mut out, name);
                Value::String(out)
            }
            "toYaml" => {
                arity(1);
                let yaml = serde_saphyr::to_string(&args[0]).unwrap();
                Value::String(yaml.trim_end().to_owned())
            }
            "nindent" => {
                arity(2);
                let pad = " ".repeat(args[0].as_u64().unwrap() as usize);
                let text = args[1].as_str().unwrap_or_else(|| panic!("{file}: nindent of a non-string"));
                Value::String(format!("\n{pad}{}", text.replace('\n', &format!("\n{pad}"))))
            }
            "quote" => {
                arity(1);
                Value::String(serde_json::to_string(&string_of(&args[0], file)).unwrap())
            }
            "default" => {
                arity(2);
                if truthy(&args[1]) { args[1].clone() } else { args[0].clone() }
            }
            "int" => {
                arity(1);
                match &args[0] {
                    Value::Number(n) => (n.as_f64().unwrap() as i64).into(),
                    Value::String(s) => s.parse::<i64>().unwrap_or(0).into(),
                    other => panic!("{file}: int of {other}"),
                }
            }
            "gt" => {
                arity(2);
                (args[0].as_f64().unwrap() > args[1].as_f64().unwrap()).into()
            }
            "and" => args.iter().find(|a| !truthy(a)).or(args.last()).cloned().unwrap(),
            "not" => {
                arity(1);
                (!truthy(&args[0])).into()
            }
            _ => panic!("{file}: the test's template substituter does not know `{function}`"),
        }
    }
}

#[derive(Debug)]
enum Token {
    Text(String),
    Action(String),
}

/// Splits into text and actions, applying `{{-` / `-}}` whitespace trimming and dropping comments.
fn lex(source: &str, file: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut rest = source;
    let mut trim_next = false;
    loop {
        let Some(open) = rest.find("{{") else {
            let text = if trim_next { rest.trim_start() } else { rest };
            tokens.push(Token::Text(text.to_owned()));
            return tokens;
        };
        let mut text = &rest[..open];
        if trim_next {
            text = text.trim_start();
        }
        let after = &rest[open + 2..];
        let close = after.find("}}").unwrap_or_else(|| panic!("{file}: unclosed {{{{"));
        let mut inner = &after[..close];
        if inner.starts_with("- ") || inner.starts_with("-\n") {
            inner = &inner[1..];
            text = text.trim_end();
        }
        trim_next = inner.ends_with(" -") || inner.ends_with("\n-");
        if trim_next {
            inner = &inner[..inner.len() - 1];
        }
        tokens.push(Token::Text(text.to_owned()));
        let inner = inner.trim();
        if !(inner.starts_with("/*") && inner.ends_with("*/")) {
            tokens.push(Token::Action(inner.to_owned()));
        }
        rest = &after[close + 2..];
    }
}

/// Nodes up to an `else` or `end` (returned) or the end of input (None).
fn parse(tokens: &[Token], at: &mut usize, file: &str) -> (Vec<Node>, Option<String>) {
    let mut nodes = Vec::new();
    while *at < tokens.len() {
        let token = &tokens[*at];
        *at += 1;
        match token {
            Token::Text(t) => nodes.push(Node::Text(t.clone())),
            Token::Action(a) if a == "end" || a == "else" => return (nodes, Some(a.clone())),
            Token::Action(a) => {
                let (keyword, rest) = a.split_once(' ').unwrap_or((a, ""));
                match keyword {
                    "if" | "with" => {
                        let (body, end) = parse(tokens, at, file);
                        let otherwise = match end.as_deref() {
                            Some("else") => {
                                let (otherwise, end) = parse(tokens, at, file);
                                assert_eq!(end.as_deref(), Some("end"), "{file}: {a}: no end");
                                otherwise
                            }
                            Some("end") => Vec::new(),
                            _ => panic!("{file}: {a}: no end"),
                        };
                        let rest = rest.trim().to_owned();
                        nodes.push(if keyword == "if" {
                            Node::If(rest, body, otherwise)
                        } else {
                            Node::With(rest, body, otherwise)
                        });
                    }
                    "define" => {
                        *at -= 1;
                        return (nodes, None);
                    }
                    "range" | "template" | "block" | "tpl" | "printf" | "required" | "fail" | "lookup" => {
                        panic!("{file}: `{a}`: the test's template substituter does not know `{keyword}`")
                    }
                    _ => nodes.push(Node::Action(a.clone())),
                }
            }
        }
    }
    (nodes, None)
}

/// Splits on `sep` outside parentheses and string literals.
fn split_top(expr: &str, sep: char) -> Vec<&str> {
    let (mut parts, mut depth, mut quoted, mut start) = (Vec::new(), 0, false, 0);
    for (i, c) in expr.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth -= 1,
            c if c == sep && !quoted && depth == 0 => {
                parts.push(&expr[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&expr[start..]);
    parts
}

/// The words of a command: terms, string literals and parenthesized pipelines.
fn words(command: &str, file: &str) -> Vec<String> {
    let (mut words, mut current, mut depth, mut quoted) = (Vec::new(), String::new(), 0, false);
    for c in command.chars() {
        match c {
            '"' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth -= 1,
            c if c.is_whitespace() && !quoted && depth == 0 => {
                if !current.is_empty() {
                    words.push(std::mem::take(&mut current));
                }
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    assert!(depth == 0 && !quoted, "{file}: unbalanced `{command}`");
    if !current.is_empty() {
        words.push(current);
    }
    assert!(!words.is_empty(), "{file}: empty command");
    words
}

fn literal(word: &str, file: &str) -> String {
    serde_json::from_str(word).unwrap_or_else(|_| panic!("{file}: not a string literal: {word}"))
}

/// Go template truth: false, 0, nil and empty strings and collections are false.
fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

fn string_of(value: &Value, file: &str) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => panic!("{file}: {other} is not a scalar: use toYaml"),
    }
}

fn print(value: &Value, expr: &str, file: &str) -> String {
    assert!(!value.is_object() && !value.is_array(), "{file}: `{{{{ {expr} }}}}` prints a collection: use toYaml");
    string_of(value, file)
}
