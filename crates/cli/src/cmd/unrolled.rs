//! `bpfpatch check OBJ --unrolled REPORT.json`: the unrolled regions an `unroll --json` report
//! names, read back into [`Region`]s and held to their lowering's discipline and boundaries
//! ([`check_regions`]). Each breach is a diagnostic under the object, and makes the verdict a
//! rejection. For a `kernel` lowering the same regions go to the verifier's trusted-region mode
//! ([`bpf_unroll::trusted_regions`], with the layouts of the report's driver's bundled profile,
//! or read from `--btf` as `unroll --btf` reads them): their context loads are typed through
//! the driver's wrapper.

use std::path::Path;

use anyhow::Context;
use bpf_patch::Slot;
use bpf_unroll::profile::LoadedBtf;
use bpf_unroll::{check_regions, trusted_regions, Driver, Lowering, Profile, Region, RegionDiagnostic};
use bpf_verifier_model::interp::Layouts;
use bpf_verifier_model::verifier::trusted::TrustedRegions;
use serde_json::{json, Value};

/// What `--unrolled` gives the check.
pub struct Unrolled {
    /// The regions, for the discipline checks.
    pub regions: Vec<Region>,
    /// A `kernel` lowering's regions for the trusted-region mode (`None`: another lowering, or
    /// a report that names no driver).
    pub trusted: Option<TrustedRegions>,
}

/// The regions of the `unroll --json` report at `path`, with the layouts of `btf` (the raw BTF
/// `unroll --btf` was given) or else of the driver's bundled profile. A report that is not
/// JSON, or lacks a key, or has one of the wrong type, is bad input naming the file and the key.
pub fn read_report(path: &Path, btf: Option<&Path>) -> anyhow::Result<Unrolled> {
    let file = path.display().to_string();
    let text = std::fs::read(path).with_context(|| format!("{file}: cannot read"))?;
    let doc: Value = serde_json::from_slice(&text).with_context(|| format!("{file}: not JSON"))?;
    let regions = regions_of(&doc).map_err(|e| anyhow::anyhow!("{file}: {e}"))?;
    let trusted = trusted_of(&doc, &regions, btf).map_err(|e| anyhow::anyhow!("{file}: {e}"))?;
    Ok(Unrolled { regions, trusted })
}

/// The trusted-region description of a `kernel` report's regions, with the layouts `unroll`
/// used: read from `btf`, or its driver's bundled profile's.
fn trusted_of(doc: &Value, regions: &[Region], btf: Option<&Path>) -> Result<Option<TrustedRegions>, String> {
    if regions.first().is_none_or(|r| r.lowering != Lowering::Kernel) {
        return Ok(None);
    }
    let Some(name) = doc.get("driver") else { return Ok(None) };
    let name = name.as_str().ok_or("key `driver`: not a string")?;
    let driver = Driver::from_name(name).ok_or_else(|| format!("key `driver`: unknown driver `{name}`"))?;
    let layouts = match btf {
        Some(p) => {
            let loaded = LoadedBtf::read(p, None).map_err(|e| e.to_string())?;
            let kernel = p.display().to_string();
            Profile::from_btf(driver, &loaded.files(p, None), &kernel).map_err(|e| e.to_string())?.layouts
        }
        None => Profile::bundled(driver)
            .map_err(|e| format!("the bundled {name} profile: {e}"))?
            .map_or_else(Layouts::v6_18, |p| p.layouts),
    };
    Ok(Some(trusted_regions(driver, &layouts, regions)))
}

/// The regions of a parsed report; `Err` names the missing or mistyped key.
fn regions_of(doc: &Value) -> Result<Vec<Region>, String> {
    let lowering_name = str_key(doc, "lowering", "lowering")?;
    let lowering = Lowering::ALL
        .into_iter()
        .find(|l| l.name() == lowering_name)
        .ok_or_else(|| format!("key `lowering`: unknown lowering `{lowering_name}`"))?;
    let sites =
        doc.get("sites").ok_or("missing key `sites`")?.as_array().ok_or("key `sites`: not an array")?;
    sites
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let at = |k: &str| format!("sites[{i}].{k}");
            let scratch = match s.get("scratch") {
                None | Some(Value::Null) => None,
                Some(v) => Some((i16_key(v, "lo", &at("scratch.lo"))?, i16_key(v, "hi", &at("scratch.hi"))?)),
            };
            let kfunc_ids = match s.get("kfunc_ids") {
                None | Some(Value::Null) => Vec::new(),
                Some(v) => v
                    .as_array()
                    .ok_or_else(|| format!("key `{}`: not an array", at("kfunc_ids")))?
                    .iter()
                    .map(|id| {
                        id.as_i64()
                            .and_then(|n| i32::try_from(n).ok())
                            .ok_or_else(|| format!("key `{}`: not a BTF id", at("kfunc_ids")))
                    })
                    .collect::<Result<_, _>>()?,
            };
            Ok(Region {
                program: str_key(s, "program", &at("program"))?.to_owned(),
                insn: Slot(u32_key(s, "insn", &at("insn"))?),
                len: u32_key(s, "emitted", &at("emitted"))?,
                kfunc: str_key(s, "kfunc", &at("kfunc"))?.to_owned(),
                lowering,
                scratch,
                kfunc_ids,
            })
        })
        .collect()
}

fn str_key<'a>(v: &'a Value, key: &str, path: &str) -> Result<&'a str, String> {
    let x = v.get(key).ok_or_else(|| format!("missing key `{path}`"))?;
    x.as_str().ok_or_else(|| format!("key `{path}`: not a string"))
}

fn u32_key(v: &Value, key: &str, path: &str) -> Result<u32, String> {
    let x = v.get(key).ok_or_else(|| format!("missing key `{path}`"))?;
    x.as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| format!("key `{path}`: not an instruction index"))
}

fn i16_key(v: &Value, key: &str, path: &str) -> Result<i16, String> {
    let x = v.get(key).ok_or_else(|| format!("missing key `{path}`"))?;
    x.as_i64().and_then(|n| i16::try_from(n).ok()).ok_or_else(|| format!("key `{path}`: not a stack offset"))
}

/// The breaches of `regions` in the object `bytes`, as JSON: `program`, `insn`, `region`
/// (`[first, end)`), `kfunc`, `lowering`, `problem`, and `text` (the whole line).
pub fn diagnostics(bytes: &[u8], regions: &[Region]) -> anyhow::Result<Vec<Value>> {
    let diags = check_regions(bytes, regions).context("checking the unrolled regions")?;
    Ok(diags.iter().map(diagnostic_json).collect())
}

fn diagnostic_json(d: &RegionDiagnostic) -> Value {
    let text = d.to_string();
    // The Display is "<where> (<lowering>): <problem>"; the problem is what follows.
    let problem = text.split_once("): ").map_or(text.as_str(), |(_, p)| p).to_owned();
    let (start, len) = d.region;
    json!({
        "program": d.program,
        "insn": d.insn.0,
        "region": [start.0, start.0 + len],
        "kfunc": d.kfunc,
        "lowering": d.lowering.name(),
        "problem": problem,
        "text": text,
    })
}

/// Makes every program a diagnostic names a rejection (its verifier verdict kept when that
/// already rejects), at the first diagnostic's instruction.
pub fn reject_programs(doc: &mut Value, diags: &[Value]) {
    for p in doc["programs"].as_array_mut().into_iter().flatten() {
        let Some(d) = diags.iter().find(|d| d["program"] == p["name"]) else { continue };
        if p["verdict"] != "reject" {
            p["verdict"] = json!("reject");
            p["error"] = json!({"insn": d["insn"], "message": format!("unrolled region: {}", d["problem"].as_str().unwrap_or(""))});
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_or_mistyped_keys_are_named() {
        let site = json!({"program": "p", "insn": 4, "emitted": 3, "kfunc": "k"});
        let cases = [
            (json!({"sites": []}), "missing key `lowering`"),
            (json!({"lowering": "odd", "sites": []}), "unknown lowering `odd`"),
            (json!({"lowering": "kernel"}), "missing key `sites`"),
            (json!({"lowering": "kernel", "sites": [{"program": "p"}]}), "missing key `sites[0].insn`"),
            (
                json!({"lowering": "kernel", "sites": [site.clone(), {"program": "p", "insn": -1}]}),
                "`sites[1].insn`",
            ),
            (
                json!({"lowering": "loadable", "sites": [{"program": "p", "insn": 1, "emitted": 2, "kfunc": "k", "scratch": {"lo": -8}}]}),
                "missing key `sites[0].scratch.hi`",
            ),
        ];
        for (doc, want) in cases {
            let e = regions_of(&doc).expect_err("bad report");
            assert!(e.contains(want), "{doc}: {e}");
        }
        let ok = regions_of(&json!({"lowering": "kernel", "sites": [site.clone()]})).expect("good report");
        // The driver picks the trusted mode's wrapper; none, or another lowering: no trusted mode.
        let trusted = |doc: Value| trusted_of(&doc, &regions_of(&doc).expect("regions"), None);
        let veth = trusted(json!({"lowering": "kernel", "driver": "veth", "sites": [site.clone()]}));
        let veth = veth.expect("known driver").expect("kernel lowering");
        assert_eq!((veth.wrapper.name.as_str(), veth.regions.len()), ("veth_xdp_buff", 1));
        assert_eq!(trusted(json!({"lowering": "kernel", "sites": [site.clone()]})), Ok(None));
        assert_eq!(trusted(json!({"lowering": "stub", "driver": "veth", "sites": [site.clone()]})), Ok(None));
        let odd = trusted(json!({"lowering": "kernel", "driver": "odd", "sites": [site]}));
        assert_eq!(odd, Err("key `driver`: unknown driver `odd`".into()));
        assert_eq!(ok.len(), 1);
        assert_eq!((ok[0].insn, ok[0].len, ok[0].lowering), (Slot(4), 3, Lowering::Kernel));
    }
}
