//! Layouts composed from BTF: a struct flattened by [`Layout::from_btf_id`] (anonymous members
//! and bitfields followed), joined with the fields some kernels keep in another view of the same
//! memory ([`VIEWS`]), each part recorded with the file and type id it came from.

use std::path::Path;

use bpf_verifier_model::interp::btf_layout::struct_id;
use bpf_verifier_model::interp::{Layout, LayoutError};
use btf_rs::Btf;

use super::{Origin, Part, ProfileError, Source};

/// Fields a layout takes from another struct overlaying the same memory when its own type lacks
/// them: (layout, view type, fields). 6.1's `mlx4_cqe` has no timestamp, its `mlx4_ts_cqe` view
/// has (mainline merged the two in 6.3); ice's RSS hash word is in the `_nic` writeback view.
pub const VIEWS: [(&str, &str, &[&str]); 2] = [
    ("ice_32b_rx_flex_desc", "ice_32b_rx_flex_desc_nic", &["rss_hash"]),
    ("mlx4_cqe", "mlx4_ts_cqe", &["timestamp_hi", "timestamp_lo"]),
];

/// A BTF to read layouts from: standalone (vmlinux) or split on a base (a module's).
pub struct BtfFiles<'a> {
    /// The BTF (with its base, when split).
    pub btf: &'a Btf,
    /// The base alone, to tell which file a type id is in; `None` when not split.
    pub base: Option<&'a Btf>,
    /// Name of the BTF's file in provenance (`ice.ko`, a path).
    pub file: String,
    /// Name of the base's file (`vmlinux`, a path).
    pub base_file: String,
    /// Where the files came from.
    pub origin: Origin,
}

/// Owned BTF read from files: `path` alone, or split on `base`.
pub struct LoadedBtf {
    /// The BTF (with its base when split).
    pub btf: Btf,
    /// The base alone.
    pub base: Option<Btf>,
}

impl LoadedBtf {
    /// Reads `path` (raw BTF, as `/sys/kernel/btf/*`), split on `base` when given.
    pub fn read(path: &Path, base: Option<&Path>) -> Result<LoadedBtf, ProfileError> {
        let bad = |p: &Path, e: btf_rs::Error| ProfileError::BtfRead {
            path: p.display().to_string(),
            reason: e.to_string(),
        };
        match base {
            None => Ok(LoadedBtf { btf: Btf::from_file(path).map_err(|e| bad(path, e))?, base: None }),
            Some(b) => {
                let base = Btf::from_file(b).map_err(|e| bad(b, e))?;
                let btf = Btf::from_split_file(path, &base).map_err(|e| bad(path, e))?;
                Ok(LoadedBtf { btf, base: Some(base) })
            }
        }
    }

    /// The files view, naming them by their paths.
    pub fn files(&self, path: &Path, base: Option<&Path>) -> BtfFiles<'_> {
        BtfFiles {
            btf: &self.btf,
            base: self.base.as_ref(),
            file: path.display().to_string(),
            base_file: base.map_or_else(String::new, |b| b.display().to_string()),
            origin: Origin::Files {
                btf: path.display().to_string(),
                base: base.map(|b| b.display().to_string()),
            },
        }
    }
}

impl BtfFiles<'_> {
    /// The files in words, for errors.
    pub fn describe(&self) -> String {
        self.origin.to_string()
    }

    fn source(&self, id: u32, type_name: &str) -> Source {
        let in_base = self.base.is_some_and(|b| b.resolve_type_by_id(id).is_ok());
        let file = if in_base { &self.base_file } else { &self.file };
        Source::Btf { file: file.clone(), type_id: id, type_name: type_name.to_owned() }
    }

    /// The struct `name` alone, with its source.
    pub fn layout(&self, name: &str) -> Result<(Layout, Source), LayoutError> {
        let id = struct_id(self.btf, name)?;
        Ok((Layout::from_btf_id(self.btf, id, name)?, self.source(id, name)))
    }
}

/// The layout `name` from `files`: the struct of that name, plus the [`VIEWS`] fields it lacks
/// that the view type has. `Err(MissingType)` when the BTF has no struct `name`.
pub fn compose(files: &BtfFiles<'_>, name: &str) -> Result<(Layout, Vec<Part>), LayoutError> {
    let (mut layout, source) = files.layout(name)?;
    let mut parts = vec![Part { source, fields: layout.fields.iter().map(|f| f.name.clone()).collect() }];
    for (_, view, wanted) in VIEWS.iter().filter(|(l, _, _)| *l == name) {
        let Ok((v, source)) = files.layout(view) else { continue };
        let mut fields = Vec::new();
        for w in wanted.iter() {
            if layout.find(w).is_some() {
                continue;
            }
            if let Some(f) = v.find(w) {
                layout.fields.push(f.clone());
                fields.push(f.name.clone());
            }
        }
        if !fields.is_empty() {
            parts.push(Part { source, fields });
        }
    }
    Ok((layout, parts))
}
