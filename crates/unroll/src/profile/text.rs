//! The profile file format: line-based, lines starting with `#` and blank lines ignored, words
//! separated by single spaces (free text last on its line). Each `layout` (a [`Layouts`] slot)
//! or `extra` (a layout `Layouts` has no slot for) line gives the name and size in bytes; `field`
//! gives name, byte offset and size; `bitfield` adds the first bit and the number of bits.
//!
//! ```text
//! profile ice
//! kernel 6.1.192-2
//! origin debian linux-image-6.1.0-56-amd64 6.1.192-2 <sha256 of the .deb>
//! layout ice_32b_rx_flex_desc 32
//! from btf ice.ko 101295 ice_32b_rx_flex_desc
//! field wb.rxdid 0 1
//! bitfield l4_hash 130 1 1 1
//! from interpreter RFC v2 wrapper definition, natural x86_64 alignment
//! note free text about this layout
//! extra rx_cmp_ext 16
//! ```
//!
//! `origin` is also `machine <uname -r>` or `files <btf path> [<base path>]`; `from` is also
//! `absent`. Every field belongs to the `from` before it.

use std::fmt::Write as _;

use bpf_verifier_model::interp::{Field, Layout, Layouts};

use super::{LayoutSource, Origin, Part, Profile, ProfileError, Source};

/// What a `layout` or `extra` line opened.
enum Open {
    Slot(usize),
    Extra,
}

struct Parser<'a> {
    file: &'a str,
    line: usize,
}

impl Parser<'_> {
    fn err(&self, reason: impl Into<String>) -> ProfileError {
        ProfileError::Parse { file: self.file.to_owned(), line: self.line, reason: reason.into() }
    }

    fn num(&self, word: Option<&str>, what: &str) -> Result<u32, ProfileError> {
        let w = word.ok_or_else(|| self.err(format!("missing {what}")))?;
        w.parse().map_err(|_| self.err(format!("{what} `{w}` is not a number")))
    }

    fn word<'w>(&self, word: Option<&'w str>, what: &str) -> Result<&'w str, ProfileError> {
        word.filter(|w| !w.is_empty()).ok_or_else(|| self.err(format!("missing {what}")))
    }
}

/// Parses `text`; `file` names it in errors.
pub(super) fn parse(file: &str, text: &str) -> Result<Profile, ProfileError> {
    let mut p = Parser { file, line: 0 };
    let (mut driver, mut kernel, mut origin) = (None, None, None);
    let mut layouts = Layouts::v6_18();
    let mut parsed: Vec<(Layout, LayoutSource)> = Vec::new();
    let mut kinds: Vec<Open> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        p.line = i + 1;
        let line = raw.trim_end();
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, rest) = line.split_once(' ').unwrap_or((line, ""));
        let mut words = rest.split(' ');
        match key {
            "profile" => driver = Some(p.word(Some(rest), "driver name")?.to_owned()),
            "kernel" => kernel = Some(p.word(Some(rest), "kernel version")?.to_owned()),
            "origin" => {
                origin = Some(match words.next() {
                    Some("debian") => Origin::Debian {
                        package: p.word(words.next(), "package")?.to_owned(),
                        version: p.word(words.next(), "version")?.to_owned(),
                        sha256: p.word(words.next(), "sha256")?.to_owned(),
                    },
                    Some("machine") => {
                        Origin::Machine { release: p.word(words.next(), "release")?.to_owned() }
                    }
                    Some("files") => Origin::Files {
                        btf: p.word(words.next(), "BTF path")?.to_owned(),
                        base: words.next().map(str::to_owned),
                    },
                    other => return Err(p.err(format!("unknown origin {other:?}"))),
                });
            }
            "layout" | "extra" => {
                let name = p.word(words.next(), "layout name")?;
                let size = p.num(words.next(), "layout size")?;
                if parsed.iter().any(|(l, _)| l.name == name) {
                    return Err(p.err(format!("layout {name} given twice")));
                }
                if key == "layout" {
                    let slot = layouts
                        .all()
                        .iter()
                        .position(|l| l.name == name)
                        .ok_or_else(|| p.err(format!("no layout slot named {name}")))?;
                    kinds.push(Open::Slot(slot));
                } else {
                    kinds.push(Open::Extra);
                }
                let source = LayoutSource { layout: name.to_owned(), parts: Vec::new(), notes: Vec::new() };
                parsed.push((Layout::new(name, size), source));
            }
            "from" | "field" | "bitfield" | "note" => {
                let (layout, source) =
                    parsed.last_mut().ok_or_else(|| p.err(format!("`{key}` before any layout")))?;
                match key {
                    "note" => source.notes.push(rest.to_owned()),
                    "from" => {
                        let src = match words.next() {
                            Some("btf") => Source::Btf {
                                file: p.word(words.next(), "file")?.to_owned(),
                                type_id: p.num(words.next(), "type id")?,
                                type_name: p.word(words.next(), "type name")?.to_owned(),
                            },
                            Some("interpreter") => Source::Interpreter(
                                p.word(rest.strip_prefix("interpreter "), "description")?.to_owned(),
                            ),
                            Some("absent") => Source::Absent,
                            other => return Err(p.err(format!("unknown source {other:?}"))),
                        };
                        source.parts.push(Part { source: src, fields: Vec::new() });
                    }
                    _ => {
                        let part =
                            source.parts.last_mut().ok_or_else(|| p.err("a field before any `from` line"))?;
                        let name = p.word(words.next(), "field name")?.to_owned();
                        let offset = p.num(words.next(), "offset")?;
                        let size = p.num(words.next(), "size")?;
                        let bits = if key == "bitfield" {
                            let first = p.num(words.next(), "first bit")?;
                            let n = p.num(words.next(), "bit count")?;
                            if n == 0 || first + n > size * 8 {
                                return Err(p.err(format!("bitfield {name} does not fit its {size} bytes")));
                            }
                            Some((first, n))
                        } else {
                            None
                        };
                        if u64::from(offset) + u64::from(size) > u64::from(layout.size) {
                            return Err(p.err(format!(
                                "field {name} ({offset}+{size}) ends beyond struct {} ({} bytes)",
                                layout.name, layout.size
                            )));
                        }
                        part.fields.push(name.clone());
                        layout.fields.push(Field { name, offset, size, bits });
                    }
                }
            }
            other => return Err(p.err(format!("unknown keyword `{other}`"))),
        }
        if words.next().is_some() && !matches!(key, "profile" | "kernel" | "note" | "from") {
            return Err(p.err(format!("trailing words after `{key}`")));
        }
    }
    p.line = text.lines().count();
    let driver = driver.ok_or_else(|| p.err("no `profile` line"))?;
    let kernel = kernel.ok_or_else(|| p.err("no `kernel` line"))?;
    let origin = origin.ok_or_else(|| p.err("no `origin` line"))?;
    let mut sources = Vec::new();
    let mut extra = Vec::new();
    for ((layout, source), kind) in parsed.into_iter().zip(kinds) {
        if source.parts.is_empty() {
            return Err(p.err(format!("layout {} has no `from` line", layout.name)));
        }
        match kind {
            Open::Slot(i) => {
                *layouts.all_mut().into_iter().nth(i).expect("the slot index came from all()") = layout;
                sources.push(source);
            }
            Open::Extra => extra.push((layout, source)),
        }
    }
    Ok(Profile { driver, kernel, origin, layouts, sources, extra })
}

fn write_layout(out: &mut String, keyword: &str, layout: &Layout, source: &LayoutSource) {
    let _ = writeln!(out, "\n{keyword} {} {}", layout.name, layout.size);
    for part in &source.parts {
        let _ = match &part.source {
            Source::Btf { file, type_id, type_name } => {
                writeln!(out, "from btf {file} {type_id} {type_name}")
            }
            Source::Interpreter(what) => writeln!(out, "from interpreter {what}"),
            Source::Absent => writeln!(out, "from absent"),
        };
        for name in &part.fields {
            let Some(f) = layout.find(name) else { continue };
            let _ = match f.bits {
                None => writeln!(out, "field {} {} {}", f.name, f.offset, f.size),
                Some((first, n)) => writeln!(out, "bitfield {} {} {} {first} {n}", f.name, f.offset, f.size),
            };
        }
    }
    for note in &source.notes {
        let _ = writeln!(out, "note {note}");
    }
}

/// The profile as text [`parse`] reads back.
pub(super) fn write(p: &Profile) -> String {
    let mut out =
        String::from("# bpfpatch driver profile, generated by scripts/derive-profiles.sh: do not edit.\n");
    let _ = writeln!(out, "profile {}\nkernel {}", p.driver, p.kernel);
    let _ = match &p.origin {
        Origin::Debian { package, version, sha256 } => {
            writeln!(out, "origin debian {package} {version} {sha256}")
        }
        Origin::Machine { release } => writeln!(out, "origin machine {release}"),
        Origin::Files { btf, base: None } => writeln!(out, "origin files {btf}"),
        Origin::Files { btf, base: Some(b) } => writeln!(out, "origin files {btf} {b}"),
    };
    for source in &p.sources {
        if let Some(layout) = p.layouts.all().into_iter().find(|l| l.name == source.layout) {
            write_layout(&mut out, "layout", layout, source);
        }
    }
    for (layout, source) in &p.extra {
        write_layout(&mut out, "extra", layout, source);
    }
    out
}
