//! Renders the CustomResourceDefinitions. `make manifests` writes one file per CRD into
//! `config/crd/bases` with `crdgen --output-dir`, and their reference pages ([`docs`]) into
//! `docs/reference` with `--docs-dir`; CI regenerates both and fails on drift.

pub mod docs;

use std::path::Path;

use anyhow::Context;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;

/// File name kubebuilder uses for a CRD: `<group>_<plural>.yaml`.
pub fn file_name(crd: &CustomResourceDefinition) -> String {
    format!("{}_{}.yaml", crd.spec.group, crd.spec.names.plural)
}

/// All CRDs as one multi-document YAML stream.
pub fn render_all() -> anyhow::Result<String> {
    let docs = crate::api::crds().iter().map(render).collect::<anyhow::Result<Vec<_>>>()?;
    Ok(docs.join("---\n"))
}

/// One CRD as YAML.
pub fn render(crd: &CustomResourceDefinition) -> anyhow::Result<String> {
    serde_yaml_ng::to_string(crd).with_context(|| format!("serializing CRD {}", file_name(crd)))
}

/// Writes every CRD to `dir/<group>_<plural>.yaml`, returning the paths written.
pub fn write_all(dir: &Path) -> anyhow::Result<Vec<std::path::PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    crate::api::crds()
        .iter()
        .map(|crd| {
            let path = dir.join(file_name(crd));
            std::fs::write(&path, render(crd)?).with_context(|| format!("writing {}", path.display()))?;
            Ok(path)
        })
        .collect()
}
