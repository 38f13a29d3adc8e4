//! Driver profiles: the struct [`Layouts`] a driver's sequences are emitted with, and where each
//! layout came from.
//!
//! - Bundled profiles ([`Profile::bundled`]) are text files under `crates/unroll/profiles/`,
//!   embedded with `include_str!` and parsed on use ([`text`] has the format). They are generated
//!   by `scripts/derive-profiles.sh` (never edited by hand): veth from this machine's 6.18 vmlinux
//!   BTF; ice, mlx4 and bnxt from the split module BTF of Debian's packaged 6.1 kernel for the
//!   descriptor structs, and the interpreter's definitions for the driver wrappers (RFC v2 or
//!   mainline, none of which 6.1 has).
//! - [`Profile::from_btf`] reads every layout from a BTF the user names (`--btf`, with
//!   `--base-btf` for split module BTF): a struct the BTF lacks is left empty and marked absent,
//!   so a sequence needing one of its fields fails with an error naming the type and the field
//!   ([`Profile::explain`]).
//!
//! A profile's [`Layouts`] is complete: the layouts it does not list are the interpreter's
//! defaults (bundled profiles) or whatever the BTF has (BTF profiles); [`Profile::sources`] says
//! where each listed layout came from.

mod btf;
pub mod text;

pub use btf::{compose, BtfFiles, LoadedBtf, VIEWS};

use std::fmt;

use bpf_verifier_model::interp::{Layout, LayoutError, Layouts};

use crate::emit::Driver;
use crate::error::UnrollError;

/// The bundled profile files, by driver name.
const BUNDLED: [(&str, &str); 4] = [
    ("veth", include_str!("../../profiles/veth.profile")),
    ("ice", include_str!("../../profiles/ice.profile")),
    ("mlx4", include_str!("../../profiles/mlx4.profile")),
    ("bnxt", include_str!("../../profiles/bnxt.profile")),
];

/// Why a profile cannot be read or built.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// A profile file is malformed.
    #[error("profile {file}, line {line}: {reason}")]
    Parse {
        /// The profile (driver name or file name).
        file: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A BTF file cannot be read.
    #[error("{path}: cannot read BTF: {reason}")]
    BtfRead {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// A struct could not be laid out from BTF.
    #[error("{btf}: {source}")]
    Layout {
        /// The BTF's description.
        btf: String,
        /// What failed.
        #[source]
        source: LayoutError,
    },
}

/// Where the BTF of a profile came from.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Origin {
    /// A Debian kernel package, as downloaded by `scripts/derive-profiles.sh`.
    Debian {
        /// Package name (`linux-image-6.1.0-56-amd64`).
        package: String,
        /// Package version (`6.1.192-2`).
        version: String,
        /// sha256 of the `.deb`.
        sha256: String,
    },
    /// The BTF of the machine the profile was derived on (`/sys/kernel/btf/vmlinux`).
    Machine {
        /// Its `uname -r`.
        release: String,
    },
    /// BTF files named by the user (`--btf`, `--base-btf`).
    Files {
        /// The BTF (`--btf`).
        btf: String,
        /// Its base, for split BTF (`--base-btf`).
        base: Option<String>,
    },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Debian { package, version, sha256 } => {
                write!(f, "Debian {package} {version} (.deb sha256 {sha256})")
            }
            Origin::Machine { release } => write!(f, "this machine's {release} vmlinux BTF"),
            Origin::Files { btf, base: None } => write!(f, "BTF {btf}"),
            Origin::Files { btf, base: Some(b) } => write!(f, "BTF {btf} on base {b}"),
        }
    }
}

/// Where some fields of a layout came from.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Source {
    /// A BTF type: the file it is in (`vmlinux`, `ice.ko`, a path), its id and its name.
    Btf {
        /// The file holding the type.
        file: String,
        /// BTF type id (in split BTF, counted on from the base's ids, as the kernel does).
        type_id: u32,
        /// The struct or union's name.
        type_name: String,
    },
    /// The interpreter's hand-written definition (`bpf_verifier_model::interp::layouts`), with
    /// what that definition is (`RFC v2 wrapper definition, natural x86_64 alignment`).
    Interpreter(String),
    /// The BTF has no such struct: the layout is empty.
    Absent,
}

/// One source of a layout and the fields it gave.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Part {
    /// Where the fields came from.
    pub source: Source,
    /// The fields' names, in the layout's order.
    pub fields: Vec<String>,
}

/// Where one layout of a profile came from.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct LayoutSource {
    /// The layout (struct) name.
    pub layout: String,
    /// Its sources (a layout may join views of the same memory: `rss_hash` of
    /// `ice_32b_rx_flex_desc_nic` in `ice_32b_rx_flex_desc`).
    pub parts: Vec<Part>,
    /// Remarks: what the kernel version lacks, where it disagrees with the interpreter.
    pub notes: Vec<String>,
}

/// A driver's layouts and their provenance.
#[derive(Clone, PartialEq, Debug)]
pub struct Profile {
    /// The driver's name (`veth`, `ice`, ...).
    pub driver: String,
    /// The kernel the layouts describe (`6.1.192-2`, `6.18.44`, a BTF path).
    pub kernel: String,
    /// Where the BTF came from.
    pub origin: Origin,
    /// Every layout (see the module docs for those not listed in `sources`).
    pub layouts: Layouts,
    /// Where each layout the driver reads came from, in file order.
    pub sources: Vec<LayoutSource>,
    /// Layouts recorded for reference that [`Layouts`] has no place for (e.g. bnxt's
    /// `rx_cmp_ext`, which the sequences do not load: they call the kernel routine).
    pub extra: Vec<(Layout, LayoutSource)>,
}

impl Profile {
    /// The bundled profile of `driver`, `None` for a driver without one (the default driver
    /// reads no layouts).
    pub fn bundled(driver: Driver) -> Result<Option<Profile>, ProfileError> {
        Profile::bundled_by_name(driver.name())
    }

    /// The bundled profile named `name`.
    pub fn bundled_by_name(name: &str) -> Result<Option<Profile>, ProfileError> {
        BUNDLED.iter().find(|(n, _)| *n == name).map(|(n, t)| Profile::parse(n, t)).transpose()
    }

    /// Every bundled profile, parsed.
    pub fn all_bundled() -> Result<Vec<Profile>, ProfileError> {
        BUNDLED.iter().map(|(n, t)| Profile::parse(n, t)).collect()
    }

    /// Parses a profile file (`file` names it in errors).
    pub fn parse(file: &str, text: &str) -> Result<Profile, ProfileError> {
        text::parse(file, text)
    }

    /// The profile in the file format [`Profile::parse`] reads.
    pub fn to_text(&self) -> String {
        text::write(self)
    }

    /// Every layout from the BTF in `files`, for `driver`: the layouts listed (with their
    /// sources) are those of the driver's bundled profile, or all of them for a driver
    /// without one. A struct the BTF lacks is empty, its source [`Source::Absent`].
    pub fn from_btf(driver: Driver, files: &BtfFiles<'_>, kernel: &str) -> Result<Profile, ProfileError> {
        let listed: Vec<String> = match Profile::bundled(driver)? {
            Some(p) => p.sources.into_iter().map(|s| s.layout).collect(),
            None => Layouts::v6_18().all().iter().map(|l| l.name.clone()).collect(),
        };
        let mut layouts = Layouts::v6_18();
        let mut sources = Vec::new();
        for slot in layouts.all_mut() {
            let (layout, parts) = match compose(files, &slot.name) {
                Ok(found) => found,
                Err(LayoutError::MissingType { .. }) => {
                    (Layout::new(&slot.name, 0), vec![Part { source: Source::Absent, fields: Vec::new() }])
                }
                Err(source) => return Err(ProfileError::Layout { btf: files.describe(), source }),
            };
            if listed.contains(&slot.name) {
                sources.push(LayoutSource { layout: slot.name.clone(), parts, notes: Vec::new() });
            }
            *slot = layout;
        }
        sources.sort_by_key(|s| listed.iter().position(|l| *l == s.layout));
        Ok(Profile {
            driver: driver.name().to_owned(),
            kernel: kernel.to_owned(),
            origin: files.origin.clone(),
            layouts,
            sources,
            extra: Vec::new(),
        })
    }

    /// The source of the layout `name`, if the profile lists it.
    pub fn source_of(&self, name: &str) -> Option<&LayoutSource> {
        self.sources.iter().find(|s| s.layout == name)
    }

    /// One line per part of a listed layout: `layout: source (fields)`, the provenance as
    /// reports print it.
    pub fn provenance(&self) -> Vec<String> {
        let mut out = Vec::new();
        for s in &self.sources {
            for p in &s.parts {
                out.push(format!("{}: {}", s.layout, self.describe(&p.source)));
            }
        }
        out
    }

    /// A source in words: `BTF of linux-image-6.1.0-56-amd64 6.1.192-2 ice.ko, type id 101295
    /// (ice_32b_rx_flex_desc)`.
    pub fn describe(&self, source: &Source) -> String {
        match source {
            Source::Btf { file, type_id, type_name } => {
                let of = match &self.origin {
                    Origin::Debian { package, version, .. } => format!("BTF of {package} {version} {file}"),
                    Origin::Machine { release } => format!("this machine's {release} {file} BTF"),
                    Origin::Files { .. } => format!("BTF {file}"),
                };
                format!("{of}, type id {type_id} ({type_name})")
            }
            Source::Interpreter(what) => what.clone(),
            Source::Absent => format!("absent from {}", self.origin),
        }
    }

    /// `err` from emitting with this profile's layouts, reworded when the field it lacks
    /// belongs to a struct the profile's BTF does not have.
    pub fn explain(&self, err: UnrollError) -> UnrollError {
        if let UnrollError::MissingField {
            driver,
            kfunc,
            source: LayoutError::UnknownField { layout, field },
        } = &err
        {
            let absent = self
                .source_of(layout)
                .map_or(self.layouts.all().iter().any(|l| l.name == *layout && l.size == 0), |s| {
                    s.parts.iter().any(|p| p.source == Source::Absent)
                });
            if absent {
                return UnrollError::MissingBtfType {
                    driver,
                    kfunc,
                    btf: self.origin.to_string(),
                    layout: layout.clone(),
                    field: field.clone(),
                };
            }
        }
        err
    }
}

#[cfg(test)]
mod tests;
