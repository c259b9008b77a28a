//! What the stand-in remembers: issued tokens, the APIM services' APIs, policies and OpenID
//! Connect providers, Key Vault secrets, long-running operations, the faults a test asked for, and
//! every request received (authorization redacted).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use serde_json::Value;

/// One APIM instance: `/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.ApiManagement/service/{n}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceKey {
    pub subscription: String,
    pub resource_group: String,
    pub name: String,
}

#[derive(Clone, Debug)]
pub struct Token {
    pub audience: String,
    pub expires: Instant,
}

#[derive(Clone, Debug, PartialEq)]
pub struct StoredApi {
    /// `properties` as last written (without the import fields, as APIM does not return them).
    pub properties: Value,
    pub etag: String,
    pub policy: Option<Stored>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Stored {
    pub value: Value,
    pub etag: String,
}

/// How PUTs and DELETEs of APIs complete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LroMode {
    /// 200/201 (PUT) or 204 (DELETE), done.
    Immediate,
    /// 2024-05-01: 201/200 with `provisioningState: InProgress` and `Location` (DELETE: 202),
    /// polled `polls` times (202) before the final answer.
    Location { polls: u32 },
    /// 2022-08-01: 202 with `Location` and an empty body.
    Accepted { polls: u32 },
}

#[derive(Clone, Debug)]
pub struct Operation {
    pub polls_left: u32,
    /// As in Azure, an operation also finishes on its own, polled or not (a client that lost its
    /// answer, or gave up polling, must not block the API forever).
    pub due: std::time::Instant,
    pub status: u16,
    pub body: Option<Value>,
    /// The API a pending PUT is for (its policy cannot be written until it is done).
    pub api: Option<(ServiceKey, String)>,
}

impl Operation {
    /// How long an operation runs when nobody polls it.
    const RUNS_FOR: std::time::Duration = std::time::Duration::from_secs(2);

    pub fn new(polls: u32, status: u16, body: Option<Value>, api: Option<(ServiceKey, String)>) -> Self {
        Self { polls_left: polls, due: std::time::Instant::now() + Self::RUNS_FOR, status, body, api }
    }

    pub fn running(&self) -> bool {
        self.polls_left > 0 && std::time::Instant::now() < self.due
    }
}

/// A forced answer to the next `remaining` requests whose `METHOD path` contains `route`.
#[derive(Clone, Debug)]
pub struct Fault {
    pub route: String,
    pub status: u16,
    pub retry_after: Option<u32>,
    pub remaining: u32,
}

/// One request as received.
#[derive(Clone, Debug, PartialEq)]
pub struct Recorded {
    pub listener: &'static str,
    pub method: String,
    pub path: String,
    pub query: String,
    pub if_match: Option<String>,
    /// `Bearer <redacted>` when a token was sent.
    pub authorization: Option<String>,
    pub body: String,
    /// The status answered (`None` until answered; a dropped connection shows its status line's).
    pub status: Option<u16>,
}

#[derive(Debug)]
pub struct State {
    pub tenant: String,
    /// client id → secret (`None`: a workload identity client, authenticated by assertion).
    pub clients: HashMap<String, Option<String>>,
    /// The federated token a workload identity assertion must equal (the token file's content).
    pub federated_token: Option<String>,
    pub token_lifetime: Duration,
    pub tokens: HashMap<String, Token>,
    pub services: Vec<ServiceKey>,
    pub apis: BTreeMap<(ServiceKey, String), StoredApi>,
    pub providers: BTreeMap<(ServiceKey, String), Stored>,
    pub secrets: BTreeMap<String, String>,
    pub vault_denied: bool,
    pub lro: LroMode,
    pub operations: HashMap<u64, Operation>,
    pub faults: Vec<Fault>,
    pub requests: Vec<Recorded>,
    /// Documents hosted at `/documents/{name}` (the API documents tests import).
    pub documents: BTreeMap<String, String>,
    /// The most APIs one page of the list holds (`$top` beyond it is cut, the rest linked).
    pub page_cap: usize,
    counter: u64,
}

impl State {
    pub fn new(tenant: &str) -> Self {
        Self {
            tenant: tenant.to_owned(),
            clients: HashMap::new(),
            federated_token: None,
            token_lifetime: Duration::from_secs(3600),
            tokens: HashMap::new(),
            services: Vec::new(),
            apis: BTreeMap::new(),
            providers: BTreeMap::new(),
            secrets: BTreeMap::new(),
            vault_denied: false,
            // As Azure does: API PUTs and DELETEs are long-running operations.
            lro: LroMode::Location { polls: 1 },
            operations: HashMap::new(),
            faults: Vec::new(),
            requests: Vec::new(),
            documents: crate::import_check::builtin(),
            page_cap: crate::list::PAGE_CAP,
            counter: 0,
        }
    }

    pub fn serial(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    /// A fresh quoted ETag, as APIM sends them.
    pub fn etag(&mut self) -> String {
        format!("\"AAAAAAA{:08x}=\"", self.serial())
    }

    pub fn issue_token(&mut self, audience: &str) -> (String, u64) {
        let token = format!("standin-token-{}", self.serial());
        let token_info = Token { audience: audience.to_owned(), expires: Instant::now() + self.token_lifetime };
        self.tokens.insert(token.clone(), token_info);
        (token, self.token_lifetime.as_secs())
    }

    /// The forced answer for this request, if a fault matches (consuming one of its uses).
    pub fn take_fault(&mut self, method: &str, path: &str) -> Option<Fault> {
        let key = format!("{method} {path}");
        let fault = self.faults.iter_mut().find(|f| f.remaining > 0 && key.contains(&f.route))?;
        fault.remaining -= 1;
        Some(fault.clone())
    }
}
