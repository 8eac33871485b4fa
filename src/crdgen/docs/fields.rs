//! The fields of a CRD schema, one per row of a reference page, in the notation users write
//! paths in: `spec.storage.s3.bucket`, `spec.topics.include[]` (each item of a list),
//! `spec.resources.limits.<key>` (each value of a map).
//!
//! A list or a map is one row with its items or values folded in (`array of string`), because
//! the list and its items are one thing to a user; items that are objects then have their own
//! fields below it (`spec.template.container.env[].name`).
//!
//! Order: properties sorted by name, depth-first. That is the only order the CRD object keeps
//! (k8s-openapi holds `properties` in a `BTreeMap`, so the Rust field order is gone by then), and
//! the order of the CRD YAML and of `kubectl explain`, so a reader finds a field where they
//! expect it and the pages are the same on every run.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool, ValidationRule,
};

use super::markdown::{code, json, number, prose};

/// What a schema is to the field it belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The property itself.
    Field,
    /// Each item of the list before it.
    Item,
    /// Each value of the map before it.
    Value,
}

impl Role {
    /// How details of this layer are introduced in a cell ("" for the field itself).
    fn prefix(self) -> &'static str {
        match self {
            Role::Field => "",
            Role::Item => "items: ",
            Role::Value => "values: ",
        }
    }

    /// How a description of this layer is introduced after the field's own.
    fn lead(self) -> &'static str {
        match self {
            Role::Field => "",
            Role::Item => "Each item: ",
            Role::Value => "Each value: ",
        }
    }
}

/// One row: a property, with the items of a list or the values of a map folded in.
#[derive(Debug)]
pub struct Field<'a> {
    /// Dotted path from the object root, e.g. `spec.topics.include[]`.
    pub path: String,
    /// Whether the parent object requires it; `None` for what is not a property (a map's values,
    /// a tuple's items), which are there exactly when their container has them.
    pub required: Option<bool>,
    /// The property's schema first, then its items or values, outermost first.
    pub layers: Vec<(Role, &'a JSONSchemaProps)>,
}

/// The fields of `schema` at `path`, itself first, then everything under it.
pub fn collect<'a>(schema: &'a JSONSchemaProps, path: String, required: Option<bool>) -> Vec<Field<'a>> {
    let mut out = Vec::new();
    walk(schema, path, required, &mut out);
    out
}

fn walk<'a>(schema: &'a JSONSchemaProps, mut path: String, required: Option<bool>, out: &mut Vec<Field<'a>>) {
    let mut layers = vec![(Role::Field, schema)];
    let mut node = schema;
    loop {
        match (&node.items, &node.additional_properties) {
            (Some(JSONSchemaPropsOrArray::Schema(item)), _) => {
                path.push_str("[]");
                node = item;
                layers.push((Role::Item, node));
            }
            (None, Some(JSONSchemaPropsOrBool::Schema(value))) if node.properties.is_none() => {
                path.push_str(".<key>");
                node = value;
                layers.push((Role::Value, node));
            }
            _ => break,
        }
    }
    out.push(Field { path: path.clone(), required, layers });

    if let Some(JSONSchemaPropsOrArray::Schemas(tuple)) = &node.items {
        for (n, item) in tuple.iter().enumerate() {
            walk(item, format!("{path}[{n}]"), None, out);
        }
    }
    for (name, child) in node.properties.iter().flatten() {
        let required = node.required.iter().flatten().any(|r| r == name);
        walk(child, format!("{path}.{name}"), Some(required), out);
    }
    if node.properties.is_some()
        && let Some(JSONSchemaPropsOrBool::Schema(value)) = &node.additional_properties
    {
        walk(value, format!("{path}.<key>"), None, out);
    }
}

impl<'a> Field<'a> {
    /// The type as a reader says it: `string (date-time)`, `array of object`,
    /// `map of int-or-string`.
    pub fn type_name(&self) -> String {
        let mut name = String::new();
        for pair in self.layers.windows(2) {
            name.push_str(match pair[1].0 {
                Role::Item => "array of ",
                Role::Value => "map of ",
                Role::Field => "",
            });
        }
        let (_, innermost) = self.layers[self.layers.len() - 1];
        name + &base_type(innermost)
    }

    /// The constraints, default and extensions of every layer, as Markdown, outermost first.
    pub fn details(&self) -> Vec<String> {
        self.layers
            .iter()
            .flat_map(|(role, schema)| {
                details(schema).into_iter().map(move |d| format!("{}{d}", role.prefix()))
            })
            .collect()
    }

    /// The descriptions of the layers, the property's own first, as Markdown on one line; empty
    /// when the schema has none.
    pub fn description(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        let mut previous = "";
        for (role, schema) in &self.layers {
            let text = schema.description.as_deref().unwrap_or("").trim();
            if text.is_empty() || text == previous {
                continue;
            }
            let lead = if parts.is_empty() && *role == Role::Field { "" } else { role.lead() };
            parts.push(format!("{lead}{}", prose(text)));
            previous = text;
        }
        parts.join(" ")
    }

    /// The CEL rules (`x-kubernetes-validations`) of every layer, with the layer they apply to.
    pub fn rules(&self) -> Vec<(Role, &'a ValidationRule)> {
        self.layers
            .iter()
            .flat_map(|(role, schema)| schema.x_kubernetes_validations.iter().flatten().map(|r| (*role, r)))
            .collect()
    }
}

/// A CEL rule as Markdown: the expression, its message, and where it reports.
pub fn rule(role: Role, rule: &ValidationRule) -> String {
    let scope = match role {
        Role::Field => "",
        Role::Item => " (each item)",
        Role::Value => " (each value)",
    };
    let mut text = format!("Rule{scope}: {}", code(&rule.rule));
    match (&rule.message, &rule.message_expression) {
        (_, Some(expression)) => text.push_str(&format!(" — message: {}", code(expression))),
        (Some(message), None) => text.push_str(&format!(" — {}", prose(message))),
        (None, None) => {}
    }
    if let Some(reason) = &rule.reason {
        text.push_str(&format!(" (reason {})", code(reason)));
    }
    if let Some(field) = &rule.field_path {
        text.push_str(&format!(" (reported at {})", code(field)));
    }
    if rule.optional_old_self == Some(true) {
        text.push_str(" (also on create: `optionalOldSelf`)");
    }
    text
}

/// The type of one schema node, with its format; `int-or-string` for
/// `x-kubernetes-int-or-string`, `any` for a node without a type (one that keeps unknown fields).
fn base_type(schema: &JSONSchemaProps) -> String {
    if schema.x_kubernetes_int_or_string == Some(true) {
        return "int-or-string".into();
    }
    let name = match schema.type_.as_deref() {
        Some(t) => t,
        None if schema.properties.is_some() => "object",
        None => "any",
    };
    match &schema.format {
        Some(format) => format!("{name} ({format})"),
        None => name.to_string(),
    }
}

/// Everything the apiserver checks or fills in for one schema node, besides its type.
fn details(s: &JSONSchemaProps) -> Vec<String> {
    let mut out = Vec::new();
    if s.nullable == Some(true) {
        out.push("nullable".to_string());
    }
    if let Some(values) = &s.enum_ {
        let values = values.iter().map(|v| json(&v.0)).collect::<Vec<_>>();
        out.push(format!("one of: {}", values.join(", ")));
    }
    if let Some(default) = &s.default {
        out.push(format!("default: {}", json(&default.0)));
    }
    if let Some(pattern) = &s.pattern {
        out.push(format!("pattern: {}", code(pattern)));
    }
    let bound = |name: &str, value: Option<f64>, exclusive: Option<bool>| {
        value.map(|v| {
            let exclusive = if exclusive == Some(true) { "exclusive " } else { "" };
            format!("{exclusive}{name}: {}", number(v))
        })
    };
    out.extend(bound("minimum", s.minimum, s.exclusive_minimum));
    out.extend(bound("maximum", s.maximum, s.exclusive_maximum));
    out.extend(s.multiple_of.map(|v| format!("multiple of: {}", number(v))));
    let counts = [
        ("min length", s.min_length),
        ("max length", s.max_length),
        ("min items", s.min_items),
        ("max items", s.max_items),
        ("min properties", s.min_properties),
        ("max properties", s.max_properties),
    ];
    out.extend(counts.iter().filter_map(|(name, v)| v.map(|v| format!("{name}: {v}"))));
    if s.unique_items == Some(true) {
        out.push("unique items".into());
    }
    if let Some(list_type) = &s.x_kubernetes_list_type {
        out.push(format!("list type: {}", code(list_type)));
    }
    if let Some(keys) = &s.x_kubernetes_list_map_keys {
        out.push(format!("list map keys: {}", names(keys)));
    }
    if let Some(map_type) = &s.x_kubernetes_map_type {
        out.push(format!("map type: {}", code(map_type)));
    }
    if s.x_kubernetes_preserve_unknown_fields == Some(true) {
        out.push("unknown fields kept (`x-kubernetes-preserve-unknown-fields`)".into());
    }
    if s.x_kubernetes_embedded_resource == Some(true) {
        out.push("embedded resource (`x-kubernetes-embedded-resource`)".into());
    }
    match &s.additional_properties {
        Some(JSONSchemaPropsOrBool::Bool(true)) => out.push("any other keys allowed".into()),
        Some(JSONSchemaPropsOrBool::Bool(false)) => out.push("no other keys".into()),
        _ => {}
    }
    let alternatives = |schemas: &[JSONSchemaProps], joiner: &str| {
        schemas.iter().map(summary).collect::<Vec<_>>().join(joiner)
    };
    if let Some(one_of) = &s.one_of {
        out.push(format!("`oneOf` (exactly one): {}", alternatives(one_of, " or ")));
    }
    if let Some(any_of) = &s.any_of {
        out.push(format!("`anyOf` (at least one): {}", alternatives(any_of, " or ")));
    }
    if let Some(all_of) = &s.all_of {
        out.push(format!("`allOf` (all): {}", alternatives(all_of, " and ")));
    }
    if let Some(not) = &s.not {
        out.push(format!("`not`: {}", summary(not)));
    }
    if let Some(example) = &s.example {
        out.push(format!("example: {}", json(&example.0)));
    }
    if let Some(url) = s.external_docs.as_ref().and_then(|d| d.url.as_deref()) {
        out.push(format!("see <{url}>"));
    }
    out
}

/// One alternative of `oneOf`/`anyOf`/`allOf`/`not`, in parentheses: its type, constraints,
/// required properties and the constraints on its properties.
fn summary(s: &JSONSchemaProps) -> String {
    let mut parts = Vec::new();
    if s.type_.is_some() || s.x_kubernetes_int_or_string == Some(true) {
        parts.push(base_type(s));
    }
    parts.extend(details(s));
    if let Some(required) = &s.required {
        parts.push(format!("required: {}", names(required)));
    }
    for (name, property) in s.properties.iter().flatten() {
        parts.push(format!("{}: {}", code(name), summary(property)));
    }
    if let Some(JSONSchemaPropsOrArray::Schema(item)) = &s.items {
        parts.push(format!("items: {}", summary(item)));
    }
    if parts.is_empty() { "(any)".into() } else { format!("({})", parts.join(", ")) }
}

fn names(names: &[String]) -> String {
    names.iter().map(|n| code(n)).collect::<Vec<_>>().join(", ")
}
