//! The reference pages: a fixture CRD with every kind of field against its expected Markdown, and
//! the real CRDs against their pages, so a field can neither be dropped nor go undescribed
//! unnoticed.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};

use super::markdown::{code, one_line, prose};
use super::*;

/// Nesting, lists of objects and of enums, maps of scalars and of objects, enums, defaults,
/// bounds, required fields, CEL rules on an object and on list items, `oneOf`, `anyOf`,
/// int-or-string, unknown fields, nullable, a field without a description.
const FIXTURE: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  names: {kind: Widget, plural: widgets, singular: widget, shortNames: [wd], categories: [toys]}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size, description: "Size | in units"}
    - {name: Mode, type: string, jsonPath: .spec.mode, priority: 1}
    schema:
      openAPIV3Schema:
        description: "A widget,\nmade to order."
        type: object
        required: [spec]
        properties:
          spec:
            description: Desired state.
            type: object
            required: [name]
            x-kubernetes-validations:
            - rule: has(self.extra) || has(self.choice)
              message: set extra or choice
            properties:
              byName:
                description: Settings per name.
                type: object
                additionalProperties:
                  type: object
                  properties:
                    weight: {type: integer, default: 1, description: Relative weight.}
              choice:
                description: One of two.
                type: object
                oneOf: [{required: [a]}, {required: [b]}]
                properties:
                  a: {type: string}
                  b: {type: string, description: The other one.}
              extra:
                description: Anything.
                type: object
                nullable: true
                x-kubernetes-preserve-unknown-fields: true
              labels:
                description: Labels to set.
                type: object
                additionalProperties: {type: string}
              mode:
                description: How it runs.
                type: string
                enum: [fast, slow]
                default: fast
              name:
                description: "Name of the\n  widget."
                type: string
                minLength: 1
                maxLength: 63
                pattern: '^[a-z]+$'
              size:
                description: Size in <n> units, `<n>` > 0.
                type: integer
                format: int32
                minimum: 1
                maximum: 10
                default: 3
              things:
                description: Things to make.
                type: array
                maxItems: 5
                default: []
                items:
                  description: One thing.
                  type: object
                  required: [id]
                  x-kubernetes-validations:
                  - {rule: "self.id != 'x'", message: not x}
                  properties:
                    id: {type: string, description: Id.}
                    port:
                      description: Port number or name.
                      x-kubernetes-int-or-string: true
                      anyOf: [{type: integer}, {type: string}]
                    tags:
                      description: Tags.
                      type: array
                      items: {type: string, enum: [a, b]}
          status:
            type: object
            properties:
              when: {type: string, format: date-time, description: When it was made.}
"#;

fn fixture() -> CustomResourceDefinition {
    serde_yaml_ng::from_str(FIXTURE).expect("fixture CRD")
}

#[test]
fn fixture_page_has_every_field_with_type_constraints_and_rules() {
    let page = render_page(&fixture());
    let spec = "\
## `spec`

| Field | Type | Required | Description |
|---|---|---|---|
| `spec` | `object` | required | Desired state.<br>Rule: `has(self.extra) \\|\\| has(self.choice)` — set extra or choice |
| `spec.byName.<key>` | `map of object` | optional | Settings per name. |
| `spec.byName.<key>.weight` | `integer`<br>default: `1` | optional | Relative weight. |
| `spec.choice` | `object`<br>`oneOf` (exactly one): (required: `a`) or (required: `b`) | optional | One of two. |
| `spec.choice.a` | `string` | optional |  |
| `spec.choice.b` | `string` | optional | The other one. |
| `spec.extra` | `object`<br>nullable<br>unknown fields kept (`x-kubernetes-preserve-unknown-fields`) | optional | Anything. |
| `spec.labels.<key>` | `map of string` | optional | Labels to set. |
| `spec.mode` | `string`<br>one of: `\"fast\"`, `\"slow\"`<br>default: `\"fast\"` | optional | How it runs. |
| `spec.name` | `string`<br>pattern: `^[a-z]+$`<br>min length: 1<br>max length: 63 | required | Name of the widget. |
| `spec.size` | `integer (int32)`<br>default: `3`<br>minimum: 1<br>maximum: 10 | optional | Size in &lt;n> units, `<n>` > 0. |
| `spec.things[]` | `array of object`<br>default: `[]`<br>max items: 5 | optional | Things to make. Each item: One thing.<br>Rule (each item): `self.id != 'x'` — not x |
| `spec.things[].id` | `string` | required | Id. |
| `spec.things[].port` | `int-or-string`<br>`anyOf` (at least one): (integer) or (string) | optional | Port number or name. |
| `spec.things[].tags[]` | `array of string`<br>items: one of: `\"a\"`, `\"b\"` | optional | Tags. |

## `status`

| Field | Type | Required | Description |
|---|---|---|---|
| `status` | `object` | optional |  |
| `status.when` | `string (date-time)` | optional | When it was made. |
";
    assert!(page.ends_with(spec), "fields differ:\n{page}");

    let head = "\
# Widget

A widget, made to order.

| Property | Value |
|---|---|
| Group | `example.com` |
| Kind | `Widget` |
| List kind | `WidgetList` |
| Plural | `widgets` |
| Singular | `widget` |
| Short names | `wd` |
| Categories | `toys` |
| Scope | Namespaced |
| CRD file | `example.com_widgets.yaml` |
| API version | `example.com/v1` (served, storage) |
| Subresources | `status` |
";
    assert!(page.starts_with(&format!("{GENERATED}\n\n{head}")), "head differs:\n{page}");

    let columns = "\
## Printer columns

`kubectl get widgets` shows these columns; those marked *wide* only with `-o wide`.

| Column | Type | JSONPath | Shown | Description |
|---|---|---|---|---|
| Size | integer | `.spec.size` | always | Size \\| in units |
| Mode | string | `.spec.mode` | *wide* |  |
";
    assert!(page.contains(columns), "columns differ:\n{page}");
}

#[test]
fn index_links_every_page() {
    let crds = crate::api::crds();
    let index = render_index(&crds);
    for crd in &crds {
        let link = format!("| [{}]({}) | `kafkabackup.com/v1alpha1` |", crd.spec.names.kind, page_name(crd));
        assert!(index.contains(&link), "{link} missing from\n{index}");
    }
    let names: Vec<String> = render_all().into_iter().map(|(name, _)| name).collect();
    assert_eq!(
        names,
        [
            "README.md",
            "kafkabackup.md",
            "kafkarestore.md",
            "kafkaoffsetreset.md",
            "kafkabackuplocation.md",
            "kafkarestorepoint.md",
            "kafkarestoredrill.md",
            "kafkabackupschedule.md",
            "kafkadataerasure.md"
        ]
    );
}

/// Every leaf of the schema (a node with no properties, items or map values) in the page's path
/// notation, found by a walk of its own rather than the renderer's.
fn leaves(schema: &JSONSchemaProps, path: String, out: &mut Vec<String>) {
    let mut inner = false;
    for (name, property) in schema.properties.iter().flatten() {
        inner = true;
        leaves(property, format!("{path}.{name}"), out);
    }
    match &schema.items {
        Some(JSONSchemaPropsOrArray::Schema(item)) => {
            inner = true;
            leaves(item, format!("{path}[]"), out);
        }
        Some(JSONSchemaPropsOrArray::Schemas(items)) => {
            for (n, item) in items.iter().enumerate() {
                inner = true;
                leaves(item, format!("{path}[{n}]"), out);
            }
        }
        None => {}
    }
    if let Some(JSONSchemaPropsOrBool::Schema(value)) = &schema.additional_properties {
        inner = true;
        leaves(value, format!("{path}.<key>"), out);
    }
    if !inner {
        out.push(path);
    }
}

fn schema(crd: &CustomResourceDefinition) -> &JSONSchemaProps {
    root(&crd.spec.versions[0]).expect("CRD has a schema")
}

#[test]
fn every_leaf_of_every_crd_has_a_row_on_its_page() {
    for crd in crate::api::crds().iter().chain([&fixture()]) {
        let page = render_page(crd);
        let mut paths = Vec::new();
        for (name, property) in schema(crd).properties.iter().flatten() {
            leaves(property, name.clone(), &mut paths);
        }
        assert!(paths.len() > 10, "{}: only {} leaves", crd.spec.names.kind, paths.len());
        let missing: Vec<&String> =
            paths.iter().filter(|p| !page.contains(&format!("\n| `{p}` |"))).collect();
        assert!(missing.is_empty(), "{}: no row for {missing:?}", crd.spec.names.kind);
    }
}

#[test]
fn every_cel_rule_is_on_its_page() {
    fn rules(schema: &JSONSchemaProps, out: &mut Vec<String>) {
        out.extend(schema.x_kubernetes_validations.iter().flatten().map(|r| r.rule.clone()));
        schema.properties.iter().flatten().for_each(|(_, p)| rules(p, out));
        if let Some(JSONSchemaPropsOrArray::Schema(item)) = &schema.items {
            rules(item, out);
        }
        if let Some(JSONSchemaPropsOrBool::Schema(value)) = &schema.additional_properties {
            rules(value, out);
        }
    }
    for crd in crate::api::crds() {
        let page = render_page(&crd);
        let mut all = Vec::new();
        rules(schema(&crd), &mut all);
        assert!(!all.is_empty(), "{}", crd.spec.names.kind);
        for rule in all {
            let shown = markdown::cell(&code(&rule));
            assert!(page.contains(&shown), "{}: rule {shown} missing", crd.spec.names.kind);
        }
    }
}

/// Kubernetes' own types embedded in ours (resources, env, affinity, tolerations, security
/// contexts, image pull secrets): their descriptions are upstream's, not ours to write.
fn upstream(path: &str) -> bool {
    [".resources.", ".env[]", ".affinity.", ".tolerations[]", ".securityContext.", ".imagePullSecrets[]"]
        .iter()
        .any(|p| path.contains(p))
}

#[test]
fn fields_without_a_description_are_listed_and_none_are_ours() {
    let (mut ours, mut all) = (Vec::new(), 0);
    for crd in crate::api::crds() {
        for (name, property) in schema(&crd).properties.iter().flatten() {
            for field in collect(property, name.clone(), None) {
                if field.description().is_empty() {
                    let kind = &crd.spec.names.kind;
                    println!("{kind} {} has no description", field.path);
                    all += 1;
                    if !upstream(&field.path) {
                        ours.push(format!("{kind} {}", field.path));
                    }
                }
            }
        }
    }
    println!("{all} fields without a description, {} of them in src/api/", ours.len());
    assert!(ours.is_empty(), "fields of src/api/ without a doc comment: {ours:#?}");
}

#[test]
fn pages_are_the_same_on_every_run() {
    assert_eq!(render_all(), render_all());
}

#[test]
fn prose_keeps_markdown_and_escapes_html() {
    assert_eq!(prose("a <b>\n  c `<d>` e"), "a &lt;b> c `<d>` e");
    assert_eq!(prose("``x `<y>` z`` <w>"), "``x `<y>` z`` &lt;w>");
    assert_eq!(prose("lone ` tick <x>"), "lone ` tick &lt;x>");
    assert_eq!(one_line("a\n\n  b\nc  "), "a b c");
}

#[test]
fn code_spans_hold_any_text() {
    assert_eq!(code("a.b"), "`a.b`");
    assert_eq!(code("x `y` z"), "``x `y` z``");
    assert_eq!(code("`y`"), "`` `y` ``");
    assert_eq!(markdown::cell(&code("a || b")), "`a \\|\\| b`");
}
