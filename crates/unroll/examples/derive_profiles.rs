//! Writes the bundled driver profiles (`crates/unroll/profiles/*.profile`) from BTF; run by
//! `scripts/derive-profiles.sh`, which downloads and extracts the files. A Rust program rather
//! than a script so that the profiles are flattened by the very code `bpfpatch unroll --btf`
//! uses ([`bpf_unroll::profile::compose`] over `Layout::from_btf`): a bundled profile and
//! `--btf` on the same files cannot disagree.
//!
//! ```text
//! derive_profiles --out DIR
//!     [--debian DIR PACKAGE VERSION SHA256]     # DIR holds vmlinux.btf and <module>.btf
//!     [--machine RELEASE VMLINUX_BTF]           # this machine's BTF, for veth
//! ```
//!
//! Each layout a driver reads is compared with the interpreter's hand-written definition; the
//! result goes into the profile as notes and, for every disagreement, to stderr.
#![allow(clippy::print_stderr)] // a command-line tool reporting what it derived

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use bpf_unroll::profile::{compose, BtfFiles, LayoutSource, Origin, Part, Profile, Source};
use bpf_verifier_model::interp::{Layout, Layouts};
use btf_rs::Btf;

/// Where a layout of a profile comes from.
enum From {
    /// The BTF (with its views).
    Btf,
    /// The interpreter's definition, described.
    Interpreter(&'static str),
}

/// One profile to derive.
struct Spec {
    driver: &'static str,
    /// The module whose split BTF holds the driver's types; `None`: vmlinux alone.
    module: Option<&'static str>,
    layouts: &'static [(&'static str, From, &'static str)],
    /// Layouts [`Layouts`] has no slot for: (struct, fields kept (empty: all)).
    extra: &'static [(&'static str, &'static [&'static str])],
}

const REDUCED: From = From::Interpreter(
    "the interpreter's reduced stand-in: kernel field names, offsets of our own (the sequences call \
     the kernel routine and never load it)",
);

/// Debian's modules, one profile each. The machine's profile (veth) is `MACHINE`.
const DEBIAN: [Spec; 3] = [
    Spec {
        driver: "ice",
        module: Some("ice.ko"),
        layouts: &[
            ("xdp_buff", From::Btf, ""),
            (
                "ice_xdp_buff",
                From::Interpreter(
                    "the interpreter's ice_xdp_buff: mainline 6.8+ definition, natural x86_64 alignment \
                     (the RFC v2 wrapper held rx_ring and rx_desc instead)",
                ),
                "",
            ),
            (
                "ice_pkt_ctx",
                From::Interpreter(
                    "the interpreter's ice_pkt_ctx: mainline 6.8+ definition, natural x86_64 alignment",
                ),
                "6.1 keeps cached_phctime in struct ice_rx_ring (see the extra layout ice_rx_ring)",
            ),
            ("ice_32b_rx_flex_desc", From::Btf, ""),
        ],
        extra: &[("ice_rx_ring", &["cached_phctime"])],
    },
    Spec {
        driver: "mlx4",
        module: Some("mlx4_en.ko"),
        layouts: &[
            ("xdp_buff", From::Btf, ""),
            (
                "mlx4_en_xdp_buff",
                From::Interpreter(
                    "the interpreter's mlx4_en_xdp_buff: mainline 6.3+ definition, natural x86_64 alignment",
                ),
                "",
            ),
            ("mlx4_cqe", From::Btf, ""),
            ("mlx4_en_dev", REDUCED, ""),
            ("mlx4_en_rx_ring", REDUCED, ""),
            ("net_device", REDUCED, ""),
        ],
        extra: &[],
    },
    Spec {
        driver: "bnxt",
        module: Some("bnxt_en.ko"),
        layouts: &[
            ("xdp_buff", From::Btf, ""),
            ("bnxt_xdp_buff", From::Interpreter("RFC v2 wrapper definition, natural x86_64 alignment"), ""),
        ],
        extra: &[("rx_cmp_ext", &[])],
    },
];

const MACHINE: Spec = Spec {
    driver: "veth",
    module: None,
    layouts: &[
        ("xdp_buff", From::Btf, ""),
        ("veth_xdp_buff", From::Btf, ""),
        ("sk_buff", From::Btf, ""),
        ("skb_shared_info", From::Btf, ""),
    ],
    extra: &[],
};

fn field_text(f: &bpf_verifier_model::interp::Field) -> String {
    match f.bits {
        None => format!("offset {} size {}", f.offset, f.size),
        Some((first, n)) => format!("offset {} bits {first}+{n}", f.offset),
    }
}

/// Where a reduced stand-in's fields really are in `what`: a note, not a disagreement (its
/// offsets are ours on purpose).
fn real_places(what: &str, real: &Layout, hand: &Layout) -> String {
    let places: Vec<String> = hand
        .fields
        .iter()
        .map(|h| match real.find(&h.name) {
            Some(r) => format!("{} {}", h.name, field_text(r)),
            None => format!("{} missing", h.name),
        })
        .collect();
    format!("in {what}, {} bytes): {}", real.size, places.join(", "))
}

/// Notes comparing `derived` with the interpreter's `hand` layout; disagreements also go to
/// stderr.
fn compare(driver: &str, what: &str, derived: &Layout, hand: &Layout) -> Vec<String> {
    let mut bad = Vec::new();
    if derived.size != hand.size {
        bad.push(format!("size {} (interpreter {})", derived.size, hand.size));
    }
    for h in &hand.fields {
        match derived.find(&h.name) {
            None => bad.push(format!("{} missing (interpreter {})", h.name, field_text(h))),
            Some(d) if (d.offset, d.size, d.bits) != (h.offset, h.size, h.bits) => {
                bad.push(format!("{} at {} (interpreter {})", h.name, field_text(d), field_text(h)));
            }
            Some(_) => {}
        }
    }
    if bad.is_empty() {
        return vec![format!(
            "{what} agrees with the interpreter's layout ({} fields compared)",
            hand.fields.len()
        )];
    }
    for b in &bad {
        eprintln!("{driver}: {}: {what} disagrees with the interpreter: {b}", hand.name);
    }
    bad.into_iter().map(|b| format!("{what} disagrees with the interpreter: {b}")).collect()
}

fn derive(spec: &Spec, files: &BtfFiles<'_>, kernel: &str, tag: &str) -> Result<Profile, String> {
    let defaults = Layouts::v6_18();
    let mut layouts = Layouts::v6_18();
    let mut sources = Vec::new();
    for (name, from, note) in spec.layouts {
        let hand =
            defaults.all().into_iter().find(|l| l.name == *name).ok_or(format!("no layout slot {name}"))?;
        let mut notes = Vec::new();
        let (layout, parts) = match from {
            From::Btf => {
                let (l, parts) = compose(files, name).map_err(|e| format!("{}: {e}", files.describe()))?;
                notes.extend(compare(spec.driver, &format!("{tag} BTF"), &l, hand));
                (l, parts)
            }
            From::Interpreter(what) => {
                match files.layout(name) {
                    Ok((real, Source::Btf { file, type_id, .. })) => {
                        let what = format!("{tag} BTF ({file} type id {type_id}");
                        if Layouts::REDUCED.contains(name) {
                            notes.push(real_places(&what, &real, hand));
                        } else {
                            notes.extend(compare(spec.driver, &format!("{what})"), &real, hand));
                        }
                    }
                    _ => notes.push(format!("{tag} BTF has no struct {name}")),
                }
                let fields = hand.fields.iter().map(|f| f.name.clone()).collect();
                (hand.clone(), vec![Part { source: Source::Interpreter((*what).to_owned()), fields }])
            }
        };
        if !note.is_empty() {
            notes.push((*note).to_owned());
        }
        *layouts.by_name_mut(name).expect("the slot exists: found above") = layout;
        sources.push(LayoutSource { layout: (*name).to_owned(), parts, notes });
    }
    let mut extra = Vec::new();
    for (name, keep) in spec.extra {
        let (mut l, source) = files.layout(name).map_err(|e| format!("{}: {e}", files.describe()))?;
        if !keep.is_empty() {
            l.fields.retain(|f| keep.contains(&f.name.as_str()));
        }
        let fields = l.fields.iter().map(|f| f.name.clone()).collect();
        let note =
            format!("recorded for reference: no layout slot, the {} sequences do not load it", spec.driver);
        extra.push((
            l,
            LayoutSource {
                layout: (*name).to_owned(),
                parts: vec![Part { source, fields }],
                notes: vec![note],
            },
        ));
    }
    Ok(Profile {
        driver: spec.driver.to_owned(),
        kernel: kernel.to_owned(),
        origin: files.origin.clone(),
        layouts,
        sources,
        extra,
    })
}

fn read(path: &Path) -> Result<Btf, String> {
    Btf::from_file(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn write(out: &Path, p: &Profile) -> Result<(), String> {
    let text = p.to_text();
    Profile::parse(&p.driver, &text).map_err(|e| format!("the written profile does not parse back: {e}"))?;
    let path = out.join(format!("{}.profile", p.driver));
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))
}

fn run(args: &[String]) -> Result<(), String> {
    let mut out = None;
    let mut i = 0;
    let mut jobs: Vec<(Spec, PathBuf, Option<PathBuf>, Origin, String, String)> = Vec::new();
    while i < args.len() {
        let arg = |n: usize| args.get(i + n).cloned().ok_or(format!("{} needs {n} values", args[i]));
        match args[i].as_str() {
            "--out" => {
                out = Some(PathBuf::from(arg(1)?));
                i += 2;
            }
            "--debian" => {
                let (dir, package, version, sha256) = (PathBuf::from(arg(1)?), arg(2)?, arg(3)?, arg(4)?);
                let upstream = version.split('-').next().unwrap_or(&version).to_owned();
                let kernel = format!("{upstream} (Debian {package} {version})");
                for spec in DEBIAN {
                    let module = dir.join(format!("{}.btf", spec.module.unwrap_or("vmlinux")));
                    let origin = Origin::Debian {
                        package: package.clone(),
                        version: version.clone(),
                        sha256: sha256.clone(),
                    };
                    jobs.push((
                        spec,
                        dir.join("vmlinux.btf"),
                        Some(module),
                        origin,
                        kernel.clone(),
                        upstream.clone(),
                    ));
                }
                i += 5;
            }
            "--machine" => {
                let (release, vmlinux) = (arg(1)?, PathBuf::from(arg(2)?));
                let short = release.split('-').next().unwrap_or(&release).to_owned();
                let kernel = format!("{short} (this machine, {release})");
                jobs.push((MACHINE, vmlinux, None, Origin::Machine { release }, kernel, short));
                i += 3;
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let out = out.ok_or("--out DIR is required")?;
    for (spec, vmlinux, module, origin, kernel, tag) in jobs {
        let base = read(&vmlinux)?;
        let split = match &module {
            Some(m) => Some(Btf::from_split_file(m, &base).map_err(|e| format!("{}: {e}", m.display()))?),
            None => None,
        };
        let files = BtfFiles {
            btf: split.as_ref().unwrap_or(&base),
            base: split.as_ref().map(|_| &base),
            file: spec.module.unwrap_or("vmlinux").to_owned(),
            base_file: "vmlinux".to_owned(),
            origin,
        };
        let profile = derive(&spec, &files, &kernel, &tag)?;
        write(&out, &profile)?;
        eprintln!(
            "wrote {}.profile ({} layouts, {} extra)",
            spec.driver,
            profile.sources.len(),
            profile.extra.len()
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("derive_profiles: {e}");
            ExitCode::from(2)
        }
    }
}
