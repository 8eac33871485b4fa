//! The API reference: one Markdown page per CRD with every field, and an index, rendered from the
//! same `crate::api::crds()` objects as the CRD files. Generated rather than written, so the
//! reference cannot disagree with what the apiserver enforces; `make manifests` writes it into
//! `docs/reference` with `crdgen --docs-dir` and CI fails when the committed pages drift.

mod fields;
mod markdown;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, CustomResourceDefinitionVersion, JSONSchemaProps,
};

use fields::{Field, Role, collect};
use markdown::{cell, code, prose};

/// The name of the index page.
pub const INDEX: &str = "README.md";

/// The first line of every page: says where it comes from, so nobody edits it by hand.
const GENERATED: &str = "<!-- Generated from the CRDs by `strimzi-backup-operator crdgen --docs-dir` \
    (make manifests). Do not edit: change the doc comments in src/api/ and regenerate. -->";

/// How paths are written, said once per page.
const NOTATION: &str = "Paths: `[]` stands for each item of a list, `<key>` for each value of a map. \
    *Required* means required whenever the field's parent is present.";

/// The page of a kind: `<kind in lowercase>.md`.
pub fn page_name(crd: &CustomResourceDefinition) -> String {
    format!("{}.md", crd.spec.names.kind.to_lowercase())
}

/// The index and every CRD's page, as (file name, Markdown), index first.
pub fn render_all() -> Vec<(String, String)> {
    let crds = crate::api::crds();
    let mut pages = vec![(INDEX.to_string(), render_index(&crds))];
    pages.extend(crds.iter().map(|crd| (page_name(crd), render_page(crd))));
    pages
}

/// Writes the index and the pages into `dir`, returning the paths written.
pub fn write_all(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    render_all()
        .into_iter()
        .map(|(name, text)| {
            let path = dir.join(name);
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
            Ok(path)
        })
        .collect()
}

/// The index: one row per kind, linking its page.
pub fn render_index(crds: &[CustomResourceDefinition]) -> String {
    let mut out = format!("{GENERATED}\n\n# API reference\n\n");
    out.push_str(
        "Every field of the operator's custom resources, with its type, default, validation and \
         description, generated from the CustomResourceDefinitions (the Rust types in `src/api/`).\n\n",
    );
    out.push_str("| Kind | API version | Short names | Scope | Description |\n|---|---|---|---|---|\n");
    for crd in crds {
        let names = &crd.spec.names;
        let versions = crd.spec.versions.iter().map(|v| code(&api_version(crd, v))).collect::<Vec<_>>();
        let description = crd.spec.versions.first().and_then(|v| root(v)?.description.as_deref());
        let _ = writeln!(
            out,
            "| [{kind}]({page}) | {versions} | {short} | {scope} | {description} |",
            kind = names.kind,
            page = page_name(crd),
            versions = versions.join(", "),
            short = list(names.short_names.as_deref()),
            scope = crd.spec.scope,
            description = cell(&prose(description.unwrap_or(""))),
        );
    }
    out
}

/// One newline at the end of a file, however its last block ended.
fn end(text: String) -> String {
    format!("{}\n", text.trim_end())
}

/// The page of one CRD: what identifies the kind, its printer columns, then a table of every
/// field under each top-level property (`spec`, `status`).
pub fn render_page(crd: &CustomResourceDefinition) -> String {
    let names = &crd.spec.names;
    let versions = &crd.spec.versions;
    let several = versions.len() > 1;
    let mut out = format!("{GENERATED}\n\n# {}\n\n", names.kind);
    if let [version] = versions.as_slice()
        && let Some(description) = root(version).and_then(|r| r.description.as_deref())
    {
        let _ = write!(out, "{}\n\n", prose(description));
    }

    let mut facts = vec![
        ("Group", code(&crd.spec.group)),
        ("Kind", code(&names.kind)),
        (
            "List kind",
            names.list_kind.as_deref().map(code).unwrap_or_else(|| code(&format!("{}List", names.kind))),
        ),
        ("Plural", code(&names.plural)),
        ("Singular", names.singular.as_deref().map(code).unwrap_or_default()),
        ("Short names", list(names.short_names.as_deref())),
        ("Categories", list(names.categories.as_deref())),
        ("Scope", crd.spec.scope.clone()),
        ("CRD file", code(&super::file_name(crd))),
    ];
    if !several && let Some(version) = versions.first() {
        facts.extend(version_facts(crd, version));
    }
    facts_table(&mut out, facts);
    let _ = write!(out, "{NOTATION}\n\n");

    for version in versions {
        let level = if several {
            let _ = write!(out, "## Version `{}`\n\n", version.name);
            if let Some(description) = root(version).and_then(|r| r.description.as_deref()) {
                let _ = write!(out, "{}\n\n", prose(description));
            }
            facts_table(&mut out, version_facts(crd, version));
            "###"
        } else {
            "##"
        };
        render_version(&mut out, crd, version, level);
    }
    end(out)
}

/// Printer columns and fields of one version, under headings of `level`.
fn render_version(
    out: &mut String,
    crd: &CustomResourceDefinition,
    version: &CustomResourceDefinitionVersion,
    level: &str,
) {
    if let Some(columns) = version.additional_printer_columns.as_deref().filter(|c| !c.is_empty()) {
        let _ = write!(
            out,
            "{level} Printer columns\n\n`kubectl get {}` shows these columns; those marked *wide* only with `-o wide`.\n\n",
            crd.spec.names.plural
        );
        let rows = columns.iter().map(|c| {
            let type_ = match &c.format {
                Some(format) => format!("{} ({format})", c.type_),
                None => c.type_.clone(),
            };
            let shown = if c.priority.unwrap_or(0) == 0 { "always" } else { "*wide*" };
            let description = c.description.as_deref().map(prose).unwrap_or_default();
            vec![
                cell(&prose(&c.name)),
                type_,
                cell(&code(&c.json_path)),
                shown.to_string(),
                cell(&description),
            ]
        });
        table(out, &["Column", "Type", "JSONPath", "Shown", "Description"], rows);
    }

    let Some(root) = root(version) else {
        let _ = write!(out, "This version has no schema.\n\n");
        return;
    };
    let rules = root
        .x_kubernetes_validations
        .iter()
        .flatten()
        .map(|r| fields::rule(Role::Field, r))
        .collect::<Vec<_>>();
    if !rules.is_empty() {
        let _ = write!(out, "{level} Rules on the whole object\n\n");
        for rule in rules {
            let _ = writeln!(out, "- {rule}");
        }
        out.push('\n');
    }
    for (name, property) in root.properties.iter().flatten() {
        let required = root.required.iter().flatten().any(|r| r == name);
        let _ = write!(out, "{level} `{name}`\n\n");
        let rows = collect(property, name.clone(), Some(required)).iter().map(row).collect::<Vec<_>>();
        table(out, &["Field", "Type", "Required", "Description"], rows);
    }
}

/// The cells of one field's row.
fn row(field: &Field) -> Vec<String> {
    let type_ = std::iter::once(code(&field.type_name())).chain(field.details()).collect::<Vec<_>>();
    let required = match field.required {
        Some(true) => "required",
        Some(false) => "optional",
        None => "—",
    };
    let description = std::iter::once(field.description())
        .chain(field.rules().into_iter().map(|(role, rule)| fields::rule(role, rule)))
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>();
    vec![
        cell(&code(&field.path)),
        cell(&type_.join("<br>")),
        required.to_string(),
        cell(&description.join("<br>")),
    ]
}

/// Facts that belong to one version: its name and state, its subresources.
fn version_facts(
    crd: &CustomResourceDefinition,
    version: &CustomResourceDefinitionVersion,
) -> Vec<(&'static str, String)> {
    let mut state = Vec::new();
    if version.served {
        state.push("served");
    }
    if version.storage {
        state.push("storage");
    }
    if version.deprecated == Some(true) {
        state.push("deprecated");
    }
    let mut facts =
        vec![("API version", format!("{} ({})", code(&api_version(crd, version)), state.join(", ")))];
    if let Some(warning) = &version.deprecation_warning {
        facts.push(("Deprecation warning", cell(&prose(warning))));
    }
    let subresources = version.subresources.as_ref().map(|s| {
        let mut names = Vec::new();
        if s.status.is_some() {
            names.push(code("status"));
        }
        if let Some(scale) = &s.scale {
            names.push(format!(
                "{} (replicas {}, status {})",
                code("scale"),
                code(&scale.spec_replicas_path),
                code(&scale.status_replicas_path)
            ));
        }
        names.join(", ")
    });
    facts.push(("Subresources", subresources.filter(|s| !s.is_empty()).unwrap_or_else(|| "none".into())));
    facts
}

/// `group/version`.
fn api_version(crd: &CustomResourceDefinition, version: &CustomResourceDefinitionVersion) -> String {
    format!("{}/{}", crd.spec.group, version.name)
}

fn root(version: &CustomResourceDefinitionVersion) -> Option<&JSONSchemaProps> {
    version.schema.as_ref()?.open_api_v3_schema.as_ref()
}

/// Names as code spans, comma-separated; "none" for none.
fn list(names: Option<&[String]>) -> String {
    match names {
        Some(names) if !names.is_empty() => names.iter().map(|n| code(n)).collect::<Vec<_>>().join(", "),
        _ => "none".into(),
    }
}

/// A two-column table of (property, value) facts about a kind or a version.
fn facts_table(out: &mut String, facts: Vec<(&str, String)>) {
    table(out, &["Property", "Value"], facts.into_iter().map(|(k, v)| vec![k.to_string(), v]));
}

/// A Markdown table; the cells are already escaped for it.
fn table(out: &mut String, header: &[&str], rows: impl IntoIterator<Item = Vec<String>>) {
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let _ = writeln!(out, "|{}", "---|".repeat(header.len()));
    for row in rows {
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }
    out.push('\n');
}

#[cfg(test)]
mod tests;
