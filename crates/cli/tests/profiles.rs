//! Layout sources of `bpfpatch unroll` and `bpfpatch drivers`: `--btf` with `--base-btf` (split
//! BTF written by the test with offsets of its own, so the emitted loads show where they came
//! from), missing structs and fields named in the error, the drivers matrix as an insta snapshot
//! (text) and its JSON schema.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use bpf_unroll::{Abi, Driver, Lowering};
use common::btf::BtfBuilder;
use common::testdata;

fn bpfpatch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bpfpatch")).args(args).output().expect("run bpfpatch")
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// A vmlinux-like base BTF: `xdp_buff`, `sk_buff` (the 6.18 offsets) and `skb_shared_info` with
/// `hwtstamps` moved to byte 24.
fn base() -> BtfBuilder {
    let mut b = BtfBuilder::new();
    let (u8_, u16_, u32_, u64_) = (b.int("u8", 1), b.int("u16", 2), b.int("u32", 4), b.int("u64", 8));
    let xdp: Vec<(&str, u32, u32, u32)> = ["data", "data_end", "data_meta", "data_hard_start", "rxq", "txq"]
        .iter()
        .enumerate()
        .map(|(i, n)| (*n, u64_, 64 * i as u32, 0))
        .chain([("frame_sz", u32_, 384, 0), ("flags", u32_, 416, 0)])
        .collect();
    b.strukt("xdp_buff", 56, &xdp);
    let hw = b.strukt("skb_hwtstamps", 8, &[("hwtstamp", u64_, 0, 0)]);
    b.strukt("skb_shared_info", 320, &[("meta_len", u8_, 8, 0), ("hwtstamps", hw, 192, 0)]);
    b.strukt(
        "sk_buff",
        224,
        &[
            ("l4_hash", u8_, 130 * 8 + 1, 1),
            ("sw_hash", u8_, 130 * 8 + 2, 1),
            ("hash", u32_, 148 * 8, 0),
            ("vlan_all", u32_, 152 * 8, 0),
            ("vlan_proto", u16_, 152 * 8, 0),
            ("vlan_tci", u16_, 154 * 8, 0),
            ("end", u32_, 188 * 8, 0),
            ("head", u64_, 192 * 8, 0),
        ],
    );
    b
}

/// A module-like split BTF on `base` with `veth_xdp_buff` (its `skb` at 64 when `with_skb`).
fn module(base: &BtfBuilder, with_skb: bool) -> BtfBuilder {
    let mut m = BtfBuilder::split(base);
    // Ids of the base: u8 1, u16 2, u32 3, u64 4, xdp_buff 5, skb_hwtstamps 6, shinfo 7, sk_buff 8.
    let skb_ptr = m.ptr(8);
    let mut members = vec![("xdp", 5, 0, 0)];
    if with_skb {
        members.push(("skb", skb_ptr, 64 * 8, 0));
    }
    m.strukt("veth_xdp_buff", 72, &members);
    m
}

#[test]
fn split_btf_layouts_are_what_the_sequences_load() {
    let dir = tempfile::tempdir().expect("temp dir");
    let b = base();
    let (base_path, mod_path) = (dir.path().join("vmlinux.btf"), dir.path().join("veth.btf"));
    std::fs::write(&base_path, b.bytes()).expect("write");
    std::fs::write(&mod_path, module(&b, true).bytes()).expect("write");
    let out_path = dir.path().join("out.o");
    let input = testdata("xdp_meta.v4.o");
    let args = ["unroll", s(&input), "-o", s(&out_path), "--driver", "veth"];
    let out =
        bpfpatch(&[&args[..], &["--btf", s(&mod_path), "--base-btf", s(&base_path), "--show"]].concat());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).expect("utf-8");
    for want in [
        &format!("profile: veth, read from BTF {} on base {}", mod_path.display(), base_path.display()),
        &format!("veth_xdp_buff: BTF {}, type id 10 (veth_xdp_buff)", mod_path.display()),
        &format!("sk_buff: BTF {}, type id 8 (sk_buff)", base_path.display()),
        "r3 = *(u64 *)(r1 + 0x40)  ; r3 = ((struct veth_xdp_buff *)ctx)->skb",
        "r4 = *(u64 *)(r4 + 0x18)  ; r4 = skb_shinfo(skb)->hwtstamps.hwtstamp",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    let json =
        bpfpatch(&[&args[..], &["--btf", s(&mod_path), "--base-btf", s(&base_path), "--json"]].concat());
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    assert_eq!(doc["profile"]["driver"], "veth");
    assert_eq!(doc["profile"]["kernel"], s(&mod_path));
    assert_eq!(doc["sites"].as_array().map(Vec::len), Some(6));
}

#[test]
fn a_missing_struct_or_field_is_an_error_naming_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let b = base();
    let base_path = dir.path().join("vmlinux.btf");
    let no_skb = dir.path().join("veth-no-skb.btf");
    std::fs::write(&base_path, b.bytes()).expect("write");
    std::fs::write(&no_skb, module(&b, false).bytes()).expect("write");
    let out_path = dir.path().join("out.o");
    let input = testdata("xdp_meta.v4.o");
    let cases: [(&[&str], String); 2] = [
        (
            &["--btf", s(&base_path)],
            format!("BTF {} has no struct veth_xdp_buff (needed for veth_xdp_buff.skb)", base_path.display()),
        ),
        (
            &["--btf", s(&no_skb), "--base-btf", s(&base_path)],
            "struct veth_xdp_buff has no field skb".to_owned(),
        ),
    ];
    for (extra, want) in cases {
        let args = ["unroll", s(&input), "-o", s(&out_path), "--driver", "veth"];
        let out = bpfpatch(&[&args[..], extra].concat());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {err}");
        assert!(err.contains(&want), "{extra:?}: {err}");
        assert!(!out_path.exists(), "no partial output");
    }
}

#[test]
#[allow(clippy::print_stderr)] // the skip reason is the test's report
fn drivers_text_is_snapshotted() {
    let vmlinux = "/sys/kernel/btf/vmlinux";
    if std::fs::metadata(vmlinux).is_err() {
        assert!(std::env::var_os("BPFPATCH_REQUIRE_KERNEL").is_none(), "{vmlinux} is unreadable");
        eprintln!("skipping: the loadable column needs {vmlinux}");
        return;
    }
    let out = bpfpatch(&["drivers", "--btf", vmlinux]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).expect("utf-8");
    insta::with_settings!({ snapshot_path => "../../../snapshots/cli", prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!("drivers", text);
    });
}

fn keys(v: &serde_json::Value) -> Vec<&str> {
    v.as_object().expect("an object").keys().map(String::as_str).collect()
}

#[test]
fn drivers_json_follows_its_schema() {
    let dir = tempfile::tempdir().expect("temp dir");
    let b = base();
    let (base_path, mod_path) = (dir.path().join("vmlinux.btf"), dir.path().join("veth.btf"));
    std::fs::write(&base_path, b.bytes()).expect("write");
    std::fs::write(&mod_path, module(&b, true).bytes()).expect("write");
    let runs: [&[&str]; 2] =
        [&["drivers", "--json"], &["drivers", "--json", "--btf", s(&mod_path), "--base-btf", s(&base_path)]];
    let per_driver = Abi::ALL.iter().map(|a| a.kfuncs().len()).sum::<usize>() * Lowering::ALL.len();
    for args in runs {
        let out = bpfpatch(args);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        assert_eq!(keys(&doc), ["drivers", "target"]);
        let drivers = doc["drivers"].as_array().expect("drivers");
        let names: Vec<&str> = drivers.iter().map(|d| d["driver"].as_str().expect("name")).collect();
        assert_eq!(names, Driver::ALL.map(Driver::name));
        for d in drivers {
            assert_eq!(keys(d), ["cells", "driver", "profile"]);
            let p = &d["profile"];
            if !p.is_null() {
                assert_eq!(keys(p), ["driver", "kernel", "layouts", "origin"]);
                for l in p["layouts"].as_array().expect("layouts") {
                    assert_eq!(keys(l), ["layout", "notes", "parts"]);
                    for part in l["parts"].as_array().expect("parts") {
                        assert_eq!(keys(part), ["fields", "source"]);
                        assert!(part["source"].is_string() && part["fields"].is_array());
                    }
                }
            }
            let cells = d["cells"].as_array().expect("cells");
            assert_eq!(cells.len(), per_driver, "{args:?}");
            for c in cells {
                let k = keys(c);
                let seq = ["abi", "calls", "insns", "kfunc", "lowering", "results", "stack_bytes", "summary"];
                let err = ["abi", "error", "kfunc", "lowering", "summary"];
                assert!(k == seq || k == err, "{c}");
                assert!(c["summary"].as_str().is_some_and(|t| !t.is_empty()));
                if k == seq {
                    assert!(c["insns"].as_u64().is_some_and(|n| n >= 1), "{c}");
                }
            }
        }
        if args.len() > 2 {
            // The test's BTF has no casting kfuncs: every loadable cell says so.
            assert!(
                doc["target"].as_str().is_some_and(|t| t.contains("bpf_cast_to_kern_ctx")),
                "{}",
                doc["target"]
            );
            let loadable = drivers
                .iter()
                .flat_map(|d| d["cells"].as_array().expect("cells"))
                .filter(|c| c["lowering"] == "loadable");
            for c in loadable {
                assert!(c["error"].as_str().is_some_and(|e| e.contains("bpf_cast_to_kern_ctx")), "{c}");
            }
        }
    }
}
