//! What `diagnose` found about one ExposedAPI, and the screen (or JSON) saying why it is or is not
//! ready. Pure: the facts are gathered by `diagnose::gather`.

use serde::Serialize;

/// Everything `diagnose` knows about one API.
#[derive(Serialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub namespace: String,
    pub name: String,
    pub ready: bool,
    pub url: Option<String>,
    pub conditions: Vec<ConditionLine>,
    /// Field errors of the spec, as the operator's validation states them.
    pub invalid: Vec<String>,
    pub route: Option<RouteFact>,
    pub gateway: Vec<String>,
    pub endpoints: Option<Endpoints>,
    /// Other routes claiming the API's gateway, host and path prefix.
    pub conflicts: Vec<String>,
    /// The API's objects in the gateway namespace.
    pub policy_objects: Vec<String>,
    /// The operator's plan for the API: each object it wants and whether the cluster has it.
    pub planned: Vec<String>,
    /// Why the plan withholds the route (a policy that cannot be enforced fails closed).
    pub withheld: Option<String>,
    pub events: Vec<String>,
    /// What this identity may do of what the operator needs.
    pub access: Vec<Access>,
}

#[derive(Serialize, Clone, Debug, Default, PartialEq)]
pub struct ConditionLine {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    pub reason: String,
    pub message: String,
}

#[derive(Serialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RouteFact {
    pub kind: String,
    pub name: String,
    /// `None`: absent.
    pub exists: bool,
    /// The controller owner (`ExposedAPI x`), if any.
    pub controlled_by: Option<String>,
    /// Whether that owner is this ExposedAPI.
    pub ours: bool,
    /// The field managers that wrote it.
    pub managers: Vec<String>,
}

#[derive(Serialize, Clone, Debug, Default, PartialEq)]
pub struct Endpoints {
    pub service: String,
    pub ready: usize,
    pub total: usize,
    pub slices: usize,
}

#[derive(Serialize, Clone, Debug, Default, PartialEq)]
pub struct Access {
    /// `verb group/resource [in namespace]`.
    pub check: String,
    pub allowed: bool,
}

impl Report {
    /// The problems that explain why the API is not ready, most telling first.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        problems.extend(self.invalid.iter().map(|e| format!("invalid spec: {e}")));
        if let Some(route) = &self.route {
            match (route.exists, route.ours) {
                (false, _) if self.invalid.is_empty() => {
                    problems.push(format!("{} {} does not exist", route.kind, route.name))
                }
                (true, false) => problems.push(format!(
                    "{} {} is controlled by {} (written by {}): the operator leaves it alone",
                    route.kind,
                    route.name,
                    route.controlled_by.as_deref().unwrap_or("nobody"),
                    route.managers.join(", ")
                )),
                _ => {}
            }
        }
        problems.extend(
            self.conflicts.iter().map(|c| format!("conflicting route {c} claims the same gateway, host and path")),
        );
        problems.extend(self.withheld.iter().map(|w| format!("the route is withheld: {w}")));
        problems.extend(
            self.planned.iter().filter(|p| p.ends_with(": MISSING")).map(|p| format!("planned but absent: {p}")),
        );
        if self.invalid.is_empty() && self.gateway.is_empty() {
            problems.push("no gateway address found (the ingress gateway Service or Gateway has none)".into());
        }
        if let Some(e) = &self.endpoints
            && e.ready == 0
        {
            problems.push(format!(
                "no ready endpoint of Service {} ({}/{} ready in {} slices)",
                e.service, e.ready, e.total, e.slices
            ));
        }
        problems
            .extend(self.access.iter().filter(|a| !a.allowed).map(|a| format!("this identity may not {}", a.check)));
        if !self.ready && problems.is_empty() {
            let ready = self.conditions.iter().find(|c| c.type_ == "Ready");
            problems.push(ready.map_or("the operator has not written a status yet (is it running?)".into(), |c| {
                format!("{}: {}", c.reason, c.message)
            }));
        }
        problems
    }

    /// The screen.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let verdict = if self.ready { "READY" } else { "NOT READY" };
        out.push_str(&format!("ExposedAPI {}/{}: {verdict}\n", self.namespace, self.name));
        if let Some(url) = &self.url {
            out.push_str(&format!("  url: {url}\n"));
        }
        let problems = self.problems();
        if !problems.is_empty() {
            out.push_str("why:\n");
            problems.iter().for_each(|p| out.push_str(&format!("  - {p}\n")));
        }
        out.push_str("conditions:\n");
        for c in &self.conditions {
            out.push_str(&format!("  {} = {} ({}): {}\n", c.type_, c.status, c.reason, c.message));
        }
        if let Some(route) = &self.route {
            let owner = route.controlled_by.as_deref().unwrap_or("nobody");
            let state = if route.exists {
                format!("controlled by {owner}, written by {}", route.managers.join(", "))
            } else {
                "absent".into()
            };
            out.push_str(&format!("route: {} {}: {state}\n", route.kind, route.name));
        }
        section(&mut out, "gateway", &self.gateway);
        if let Some(e) = &self.endpoints {
            out.push_str(&format!(
                "endpoints: Service {}: {}/{} ready ({} slices)\n",
                e.service, e.ready, e.total, e.slices
            ));
        }
        section(&mut out, "conflicting routes", &self.conflicts);
        section(&mut out, "policy objects", &self.policy_objects);
        section(&mut out, "the operator's plan", &self.planned);
        section(&mut out, "recent events", &self.events);
        let access: Vec<String> =
            self.access.iter().map(|a| format!("{} {}", if a.allowed { "yes" } else { "NO " }, a.check)).collect();
        section(&mut out, "access of this identity", &access);
        out
    }
}

fn section(out: &mut String, title: &str, lines: &[String]) {
    if lines.is_empty() {
        return;
    }
    out.push_str(&format!("{title}:\n"));
    lines.iter().for_each(|l| out.push_str(&format!("  {l}\n")));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn not_ready() -> Report {
        Report {
            namespace: "ns".into(),
            name: "a".into(),
            route: Some(RouteFact {
                kind: "VirtualService".into(),
                name: "a".into(),
                exists: true,
                controlled_by: Some("ExposedAPI a".into()),
                ours: true,
                managers: vec!["oda-api-operator".into()],
            }),
            gateway: vec!["Service istio-ingress/istio-ingress: 20.1.2.3".into()],
            endpoints: Some(Endpoints { service: "impl".into(), ready: 0, total: 2, slices: 1 }),
            access: vec![Access { check: "patch networking.istio.io/virtualservices".into(), allowed: false }],
            ..Default::default()
        }
    }

    #[test]
    fn the_reasons_are_named() {
        let problems = not_ready().problems();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("no ready endpoint of Service impl (0/2"));
        assert!(problems[1].contains("may not patch"));
        let text = not_ready().text();
        assert!(text.starts_with("ExposedAPI ns/a: NOT READY\nwhy:\n"), "{text}");
    }

    #[test]
    fn a_foreign_route_and_an_invalid_spec_are_said() {
        let mut report = not_ready();
        if let Some(route) = report.route.as_mut() {
            route.ours = false;
            route.controlled_by = None;
            route.managers = vec!["kubectl".into()];
        }
        assert!(report.problems()[0].contains("controlled by nobody (written by kubectl)"));
        let invalid = Report { invalid: vec!["spec.path: must start with '/'".into()], ..Default::default() };
        assert_eq!(invalid.problems(), ["invalid spec: spec.path: must start with '/'"]);
    }
}
