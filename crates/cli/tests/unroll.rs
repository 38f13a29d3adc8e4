//! `bpfpatch unroll` on the committed `xdp_meta` objects: the JSON report's shape and positions
//! (checked against the rewritten object), `--show`, usage errors. With feature `kernel`, on the
//! running kernel: the `stub` rewrite loads without device binding and runs under
//! `BPF_PROG_TEST_RUN`; the `kernel` lowering is rejected ("invalid bpf_context access"); the
//! `loadable` rewrite, attached unbound to a veth, records what the device-bound original
//! records on the same frames (but for the documented flow-dissector hash deviation); per
//! frame, with a tc egress program on the sender tagging (`bpf_skb_vlan_push`) and hashing
//! (`bpf_get_hash_recalc`) some frames, every kfunc's return code and values agree; and the
//! two programs' per-packet run times are printed.

#![allow(clippy::print_stderr)] // the kernel tests report what they ran

mod common;

use std::path::Path;
use std::process::{Command, Output};

use bpf_patch::elf::BpfObject;
use common::testdata;

fn bpfpatch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bpfpatch")).args(args).output().expect("run bpfpatch")
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn json_report_names_each_site_at_its_place_in_the_output() {
    let dir = tempfile::tempdir().expect("temp dir");
    for lowering in ["kernel", "stub"] {
        for driver in ["veth", "default"] {
            let input = testdata("xdp_meta.v4.o");
            let out_path = dir.path().join(format!("{driver}-{lowering}.o"));
            let out = bpfpatch(&[
                "unroll",
                s(&input),
                "-o",
                s(&out_path),
                "--driver",
                driver,
                "--lowering",
                lowering,
                "--json",
            ]);
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
            let sites = doc["sites"].as_array().expect("sites");
            assert_eq!(sites.len(), 6, "{driver} {lowering}");
            let obj = BpfObject::parse(&std::fs::read(&out_path).expect("written")).expect("parses");
            for site in sites {
                let keys: Vec<&str> = site.as_object().expect("object").keys().map(String::as_str).collect();
                // The keys, plus what `check --unrolled` needs (loadable scratch slots
                // and kfunc ids: none for these lowerings).
                assert_eq!(
                    keys,
                    [
                        "emitted",
                        "insn",
                        "kfunc",
                        "kfunc_ids",
                        "program",
                        "regs_written",
                        "scratch",
                        "stack_bytes"
                    ]
                );
                assert_eq!(
                    (&site["scratch"], &site["kfunc_ids"]),
                    (&serde_json::Value::Null, &serde_json::json!([]))
                );
                let p = obj.program(site["program"].as_str().expect("name")).expect("function exists");
                let at = site["insn"].as_u64().expect("index") as usize;
                let n = site["emitted"].as_u64().expect("count") as usize;
                assert!(at + n <= p.len as usize);
                assert_eq!(site["stack_bytes"], 0);
                let regs = site["regs_written"].as_array().expect("regs");
                assert!(regs
                    .iter()
                    .all(|r| ["r0", "r2", "r3", "r4", "r5"].contains(&r.as_str().expect("name"))));
                assert!(regs.contains(&serde_json::json!("r0")));
                // The last emitted instruction of every sequence sets r0 or jumps to the end.
                let last = obj.insns_of(p)[at + n - 1];
                assert!(last.dst_reg() == 0 || last.code & 0x07 == 0x05, "{site}");
            }
        }
    }
}

#[test]
fn show_prints_the_call_then_the_annotated_sequence() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out_path = dir.path().join("out.o");
    let out = bpfpatch(&[
        "unroll",
        s(&testdata("xdp_meta.v3.o")),
        "-o",
        s(&out_path),
        "--driver",
        "veth",
        "--show",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert!(
        text.contains("read_timestamp insn 4: bpf_xdp_metadata_rx_timestamp -> 10 insns, writes r0,r3,r4,r5"),
        "{text}"
    );
    assert!(text.contains("  was 4: call -0x1  ; bpf_xdp_metadata_rx_timestamp"), "{text}");
    assert!(text.contains("r3 = *(u64 *)(r1 + 0x38)  ; r3 = ((struct veth_xdp_buff *)ctx)->skb"), "{text}");
    assert_eq!(text.matches("  was ").count(), 6);
}

#[test]
fn mlx4_show_names_the_kernel_routine_of_each_timestamp() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out_path = dir.path().join("out.o");
    let input = testdata("xdp_meta.v3.o");
    let out = bpfpatch(&["unroll", s(&input), "-o", s(&out_path), "--driver", "mlx4", "--show"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert_eq!(text.matches("  calls mlx4_xdp_rx_timestamp_out at insn ").count(), 2, "{text}");
    let call_lines = text.lines().filter(|l| l.contains("; call mlx4_xdp_rx_timestamp_out(ctx)"));
    assert!(
        call_lines.clone().count() == 2 && call_lines.into_iter().all(|l| l.contains(": call -0x1 ")),
        "{text}"
    );
    let obj = BpfObject::parse(&std::fs::read(&out_path).expect("written")).expect("parses");
    let relocs =
        obj.sections.iter().flat_map(|s| &s.relocs).filter(|r| r.symbol == "mlx4_xdp_rx_timestamp_out");
    assert_eq!(relocs.count(), 2);
    for driver in ["ice", "bnxt"] {
        let out = bpfpatch(&["unroll", s(&input), "-o", s(&out_path), "--driver", driver, "--abi", "rfc"]);
        assert!(out.status.success(), "{driver}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn loadable_for_a_driver_missing_from_the_btf_names_its_wrapper() {
    if std::fs::metadata("/sys/kernel/btf/vmlinux").is_err() {
        assert!(std::env::var("BPFPATCH_REQUIRE_KERNEL").map_or(true, |v| v != "1"), "no vmlinux BTF");
        eprintln!("skipped: /sys/kernel/btf/vmlinux is not readable");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let out_path = dir.path().join("out.o");
    let input = testdata("xdp_meta.v3.o");
    for (driver, wrapper) in
        [("ice", "ice_xdp_buff"), ("mlx4", "mlx4_en_xdp_buff"), ("bnxt", "bnxt_xdp_buff")]
    {
        let out = bpfpatch(&[
            "unroll",
            s(&input),
            "-o",
            s(&out_path),
            "--driver",
            driver,
            "--lowering",
            "loadable",
        ]);
        assert_eq!(out.status.code(), Some(2), "{driver}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("has no struct {wrapper}")), "{driver}: {err}");
        assert!(!out_path.exists(), "{driver}: no partial output");
    }
}

#[test]
fn bad_usage_and_input_exit_2_without_output() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out_path = dir.path().join("out.o");
    let input = testdata("xdp_meta.v3.o");
    let not_elf = dir.path().join("not.o");
    std::fs::write(&not_elf, b"not an object").expect("write");
    for args in [
        vec!["unroll", s(&input), "-o", s(&out_path), "--driver", "mlx5"],
        vec!["unroll", s(&input), "-o", s(&out_path), "--driver", "nosuch"],
        vec!["unroll", s(&input), "-o", s(&out_path), "--driver", "veth", "--base-btf", s(&input)],
        vec!["unroll", s(&input), "-o", s(&out_path), "--driver", "veth", "--btf", s(&not_elf)],
        vec!["unroll", s(&input), "-o", s(&out_path), "--driver", "veth", "--abi", "v2"],
        vec!["unroll", s(&not_elf), "-o", s(&out_path), "--driver", "veth"],
    ] {
        let out = bpfpatch(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(!out_path.exists(), "{args:?}: no partial output");
    }
}

#[cfg(feature = "kernel")]
#[test]
fn stub_rewrite_loads_without_device_binding_and_test_runs() {
    use bpfpatch::kernel::{load_each, load_one, LoadOptions};

    if !common::kernel() {
        return;
    }
    let mut ran = 0;
    for name in ["xdp_meta.v3.o", "xdp_meta.v4.o"] {
        let dir = tempfile::tempdir().expect("temp dir");
        let out_path = dir.path().join("stub.o");
        let out = bpfpatch(&[
            "unroll",
            s(&testdata(name)),
            "-o",
            s(&out_path),
            "--driver",
            "veth",
            "--lowering",
            "stub",
        ]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let bytes = std::fs::read(&out_path).expect("written");
        let loads = load_each(&bytes, &LoadOptions::default()).expect("libbpf opens the rewrite");
        assert_eq!(loads.len(), 4);
        for l in &loads {
            assert!(l.accepted, "{name} {}: {:?}\n{}", l.name, l.summary.message, l.log);
            let (_, loaded) = load_one(&bytes, &l.name, &l.section, &LoadOptions::default()).expect("loads");
            let run = loaded.expect("accepted").test_run(&[0u8; 64], 1).expect("BPF_PROG_TEST_RUN");
            assert_eq!(run.retval, 2, "{name} {}: XDP_PASS", l.name);
            ran += 1;
        }
    }
    eprintln!("{ran} stub-rewritten programs loaded without device binding and test-ran");
}

#[cfg(feature = "kernel")]
#[test]
fn rfc_object_loads_once_stubbed_on_a_kernel_without_the_rfc_kfuncs() {
    use bpfpatch::kernel::{load_each, load_one, LoadOptions};

    if !common::kernel() {
        return;
    }
    let input = testdata("xdp_meta_rfc.v4.o");
    // As compiled, libbpf cannot resolve the RFC's kfuncs on a mainline kernel.
    let original = std::fs::read(&input).expect("read");
    let refused =
        load_each(&original, &LoadOptions::default()).map_or(true, |l| l.iter().all(|p| !p.accepted));
    assert!(refused, "the RFC kfuncs unexpectedly resolve on this kernel");
    let dir = tempfile::tempdir().expect("temp dir");
    let out_path = dir.path().join("stub.o");
    let out = bpfpatch(&[
        "unroll",
        s(&input),
        "-o",
        s(&out_path),
        "--abi",
        "rfc",
        "--driver",
        "veth",
        "--lowering",
        "stub",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bytes = std::fs::read(&out_path).expect("written");
    // The replaced kfuncs are kept as weak externs, so libbpf does not look for them.
    let obj = BpfObject::parse(&bytes).expect("parses");
    let calls = obj.sections.iter().flat_map(|cs| &cs.relocs);
    assert!(calls.into_iter().all(|r| !r.symbol.starts_with("bpf_xdp_metadata")), "no call is left");
    let (load, loaded) = load_one(&bytes, "rfc_meta", "xdp", &LoadOptions::default()).expect("opens");
    let loaded = loaded.unwrap_or_else(|| panic!("stub rejected: {:?}\n{}", load.summary.message, load.log));
    let run = loaded.test_run(&[0u8; 64], 1).expect("BPF_PROG_TEST_RUN");
    assert_eq!(run.retval, 2, "XDP_PASS");
    let map = |suffix: &str| {
        let name = loaded.map_names().into_iter().find(|n| n.ends_with(suffix)).expect("data map");
        loaded.map_lookup(&name, &0u32.to_ne_bytes()).expect("lookup").expect("one value")
    };
    // .data: `supported` and `exported` (both -1 before the run) now hold the RFC defaults, 0.
    assert_eq!(map(".data"), vec![0u8; 8], "supported = 0, exported = 0");
    // .bss: last_timestamp = 0 and runs = 1.
    let mut words: Vec<u32> =
        map(".bss").chunks(4).map(|w| u32::from_ne_bytes(w.try_into().expect("4 bytes"))).collect();
    words.sort_unstable();
    assert_eq!(words, [0, 0, 1]);
    // `loadable` cannot export (the hints go in front of data_meta): refused, nothing written.
    let refused_path = dir.path().join("loadable.o");
    let out = bpfpatch(&[
        "unroll",
        s(&input),
        "-o",
        s(&refused_path),
        "--abi",
        "rfc",
        "--driver",
        "veth",
        "--lowering",
        "loadable",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bpf_xdp_metadata_export_to_skb"));
    assert!(!refused_path.exists());
}

#[cfg(feature = "kernel")]
#[test]
fn kernel_lowering_is_rejected_by_todays_verifier_as_designed() {
    use bpfpatch::kernel::{load_each, LoadOptions};

    if !common::kernel() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let out_path = dir.path().join("kernel.o");
    let out = bpfpatch(&["unroll", s(&testdata("xdp_meta.v4.o")), "-o", s(&out_path), "--driver", "veth"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let loads =
        load_each(&std::fs::read(&out_path).expect("written"), &LoadOptions::default()).expect("opens");
    assert_eq!(loads.len(), 4);
    for l in &loads {
        assert!(!l.accepted, "{}", l.name);
        let msg = l.summary.message.as_deref().unwrap_or("");
        assert!(msg.starts_with("invalid bpf_context access off=56 size=8"), "{}: {msg}", l.name);
    }
}

/// The testdata object `name` and its `bpfpatch unroll --driver veth --lowering loadable`
/// rewrite.
#[cfg(feature = "kernel")]
fn veth_loadable(name: &str) -> (Vec<u8>, Vec<u8>) {
    let input = testdata(name);
    let dir = tempfile::tempdir().expect("temp dir");
    let out_path = dir.path().join("loadable.o");
    let out =
        bpfpatch(&["unroll", s(&input), "-o", s(&out_path), "--driver", "veth", "--lowering", "loadable"]);
    assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
    (std::fs::read(&input).expect("read"), std::fs::read(&out_path).expect("written"))
}

/// An Ethernet + IPv4 + UDP frame to `dst_mac`.
#[cfg(feature = "kernel")]
fn udp_frame(dst_mac: [u8; 6], dport: u16) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&dst_mac);
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00]);
    let payload = b"unroll";
    let total = 20 + 8 + payload.len() as u16;
    f.extend_from_slice(&[0x45, 0, (total >> 8) as u8, total as u8, 0, 1, 0, 0, 64, 17, 0, 0]);
    f.extend_from_slice(&[192, 0, 2, 1, 192, 0, 2, 2]);
    f.extend_from_slice(&4242u16.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&(8 + payload.len() as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(payload);
    f
}

/// Loads program `prog` of `bytes` (device-bound to `vb` when `bound`), attaches it to `vb`,
/// sends one UDP frame per port from `va`, and calls `until` every 20 ms (at most 5 s) until
/// it says the frames were seen; returns what it returned last, the program detached after.
#[cfg(feature = "kernel")]
fn attach_and_send<T>(
    ns: &bpfpatch::kernel::netns::Netns,
    bytes: &[u8],
    prog: &str,
    bound: bool,
    ports: &[u16],
    until: impl Fn(&bpfpatch::kernel::Loaded) -> Option<T>,
) -> T {
    use bpfpatch::kernel::{load_one, LoadOptions};
    use std::time::{Duration, Instant};

    let ifindex = ns.ifindex("vb").expect("vb exists");
    let mac = ns.mac("vb").expect("vb has a MAC");
    let opts = LoadOptions { dev_bound_ifindex: bound.then_some(ifindex), ..LoadOptions::default() };
    let (load, loaded, link) = ns
        .run_in(|| {
            let (load, loaded) = load_one(bytes, prog, "xdp", &opts).expect("opens");
            let link = loaded.as_ref().map(|l| l.attach_xdp(ifindex).expect("attach to vb"));
            (load, loaded, link)
        })
        .expect("enter the namespace");
    let loaded = loaded.unwrap_or_else(|| panic!("load rejected: {:?}\n{}", load.summary.message, load.log));
    let frames: Vec<Vec<u8>> = ports.iter().map(|&p| udp_frame(mac, p)).collect();
    ns.send_frames("va", &frames).expect("send");
    let deadline = Instant::now() + Duration::from_secs(5);
    let out = loop {
        match until(&loaded) {
            Some(v) => break v,
            None if Instant::now() > deadline => panic!("{prog}: the frames were not all seen within 5 s"),
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    drop(link);
    out
}

/// Attaches program `xdp_meta` of `bytes` to `vb` in `ns` (device-bound when `bound`), sends
/// three frames from `va` and returns the `rx_results` record (struct rx_meta of
/// testdata/src/xdp_meta.bpf.c) once it has counted them.
#[cfg(feature = "kernel")]
fn veth_record(ns: &bpfpatch::kernel::netns::Netns, bytes: &[u8], bound: bool) -> Vec<u8> {
    veth_run(ns, bytes, bound, 3).0
}

/// [`veth_record`] with `frames` frames, also returning the program's (run_time_ns, run_cnt)
/// as the kernel's statistics counted them (when enabled).
#[cfg(feature = "kernel")]
fn veth_run(
    ns: &bpfpatch::kernel::netns::Netns,
    bytes: &[u8],
    bound: bool,
    frames: u32,
) -> (Vec<u8>, (u64, u64)) {
    let ports: Vec<u16> = (0..frames).map(|i| 53 + (i % 3) as u16).collect();
    attach_and_send(ns, bytes, "xdp_meta", bound, &ports, |loaded| {
        let r = loaded.map_lookup("rx_results", &0u32.to_ne_bytes()).expect("lookup").expect("slot 0 exists");
        if u32::from_ne_bytes(r[28..32].try_into().expect("4 bytes")) < frames {
            return None;
        }
        // While it is loaded: the attached program is the `xdp_meta` that ran at least `frames`
        // times.
        let stats = libbpf_rs::query::ProgInfoIter::default()
            .filter(|p| p.name.to_str() == Some("xdp_meta"))
            .map(|p| (p.run_time_ns, p.run_cnt))
            .max_by_key(|&(_, n)| n)
            .unwrap_or((0, 0));
        Some((r, stats))
    })
}

#[cfg(feature = "kernel")]
#[test]
fn loadable_rewrite_agrees_with_the_device_bound_original_on_veth_traffic() {
    use bpfpatch::kernel::netns::Netns;

    if !common::kernel() {
        return;
    }
    let (original, rewritten) = veth_loadable("xdp_meta.v4.o");
    let ns = Netns::new().expect("network namespace with a veth pair");
    let want = veth_record(&ns, &original, true);
    let got = veth_record(&ns, &rewritten, false);
    // struct rx_meta: timestamp 0, hash 8, rss_type 12, vlan_proto 16, vlan_tci 18,
    // ret_timestamp 20, ret_hash 22, ret_vlan 24, flags 26, count 28.
    let i16_at = |r: &[u8], o: usize| i16::from_ne_bytes(r[o..o + 2].try_into().expect("2 bytes"));
    for r in [&want, &got] {
        assert_eq!(u32::from_ne_bytes(r[28..32].try_into().expect("4 bytes")), 3, "frames seen");
        assert_eq!(i16_at(r, 26) & 1, 1, "record valid");
    }
    assert_eq!(&got[0..8], &want[0..8], "timestamp value");
    assert_eq!(i16_at(&got, 20), i16_at(&want, 20), "rx_timestamp return code");
    assert_eq!(&got[16..20], &want[16..20], "vlan proto and tci");
    assert_eq!(i16_at(&got, 24), i16_at(&want, 24), "rx_vlan_tag return code (untagged: -ENODATA)");
    let (want_hash, got_hash) = (i16_at(&want, 22), i16_at(&got, 22));
    if got_hash == 0 {
        assert_eq!(&got[8..16], &want[8..16], "hash and rss type");
        assert_eq!(want_hash, 0);
    } else {
        // The documented deviation: no l4_hash / sw_hash on these skbs, so the kernel ran the
        // flow dissector; the unrolled sequence says -ENODATA.
        assert_eq!((want_hash, got_hash), (0, -61), "only the flow-dissector deviation may differ");
    }
    eprintln!(
        "veth traffic: original ret (ts {}, hash {}, vlan {}), loadable ret (ts {}, hash {}, vlan {})",
        i16_at(&want, 20),
        want_hash,
        i16_at(&want, 24),
        i16_at(&got, 20),
        got_hash,
        i16_at(&got, 24)
    );
}

/// One `struct rx_record` of testdata/src/veth_traffic.bpf.c.
#[cfg(feature = "kernel")]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct RxRecord {
    timestamp: u64,
    hash: u32,
    rss_type: u32,
    /// Network order, as the kfunc wrote it.
    vlan_proto: [u8; 2],
    vlan_tci: u16,
    ret_timestamp: i16,
    ret_hash: i16,
    ret_vlan: i16,
    seen: u16,
}

#[cfg(feature = "kernel")]
impl RxRecord {
    fn parse(r: &[u8]) -> RxRecord {
        let u16_at = |o: usize| u16::from_ne_bytes(r[o..o + 2].try_into().expect("2 bytes"));
        let u32_at = |o: usize| u32::from_ne_bytes(r[o..o + 4].try_into().expect("4 bytes"));
        RxRecord {
            timestamp: u64::from_ne_bytes(r[0..8].try_into().expect("8 bytes")),
            hash: u32_at(8),
            rss_type: u32_at(12),
            vlan_proto: [r[16], r[17]],
            vlan_tci: u16_at(18),
            ret_timestamp: u16_at(20) as i16,
            ret_hash: u16_at(22) as i16,
            ret_vlan: u16_at(24) as i16,
            seen: u16_at(26),
        }
    }
}

/// Attaches `xdp_meta_log` of `bytes` to `vb` (device-bound when `bound`), sends one UDP frame
/// per port from `va` (whose egress runs `tc_shape`), and returns the per-frame records.
#[cfg(feature = "kernel")]
fn traffic_log(
    ns: &bpfpatch::kernel::netns::Netns,
    bytes: &[u8],
    bound: bool,
    ports: &[u16],
) -> Vec<RxRecord> {
    attach_and_send(ns, bytes, "xdp_meta_log", bound, ports, |loaded| {
        let record = |i: usize| {
            let key = u32::try_from(i).expect("few frames").to_ne_bytes();
            RxRecord::parse(&loaded.map_lookup("rx_log", &key).expect("lookup").expect("slot exists"))
        };
        (record(ports.len() - 1).seen != 0).then(|| (0..ports.len()).map(record).collect())
    })
}

#[cfg(feature = "kernel")]
#[test]
fn loadable_rewrite_agrees_per_frame_on_tagged_and_hashed_veth_traffic() {
    use bpfpatch::kernel::netns::Netns;
    use bpfpatch::kernel::{load_one, LoadOptions};

    if !common::kernel() {
        return;
    }
    let (original, rewritten) = veth_loadable("veth_traffic.v4.o");
    let ns = Netns::new().expect("network namespace with a veth pair");
    // tc_shape on va's egress: port bit 1 → bpf_get_hash_recalc, bit 0 → 802.1Q tag.
    let va = ns.ifindex("va").expect("va exists");
    let (load, shaper) = ns
        .run_in(|| load_one(&original, "tc_shape", "tc", &LoadOptions::default()).expect("opens"))
        .expect("enter the namespace");
    let shaper = shaper.unwrap_or_else(|| panic!("tc_shape rejected: {:?}", load.summary.message));
    ns.run_in(|| shaper.attach_tc_egress(va).expect("tc egress on va")).expect("enter the namespace");
    let ports: Vec<u16> = (1000..1016).collect();
    let want = traffic_log(&ns, &original, true, &ports);
    let got = traffic_log(&ns, &rewritten, false, &ports);
    let (mut tagged, mut hashed, mut deviations) = (0, 0, 0);
    for ((&port, w), g) in ports.iter().zip(&want).zip(&got) {
        let at = format!("frame to port {port}: original {w:?}, loadable {g:?}");
        assert_eq!((w.seen, g.seen), (1, 1), "{at}");
        assert_eq!((w.ret_timestamp, w.timestamp), (g.ret_timestamp, g.timestamp), "{at}");
        assert_eq!((w.ret_vlan, w.vlan_proto, w.vlan_tci), (g.ret_vlan, g.vlan_proto, g.vlan_tci), "{at}");
        if port & 1 == 1 {
            let tci = ((port & 7) << 13) | (port & 0xfff);
            assert_eq!((w.ret_vlan, w.vlan_proto, w.vlan_tci), (0, [0x81, 0x00], tci), "{at}");
            tagged += 1;
        } else {
            assert_eq!(w.ret_vlan, -61, "{at}");
        }
        if port & 2 == 2 {
            // The flow dissector ran in tc: the sequence's fast path reads the same hash.
            assert_eq!((w.ret_hash, w.hash, w.rss_type), (g.ret_hash, g.hash, g.rss_type), "{at}");
            assert_eq!(w.ret_hash, 0, "{at}");
            hashed += 1;
        } else if w.ret_hash != g.ret_hash {
            // The documented deviation: the kernel's kfunc runs the flow dissector itself.
            assert_eq!((w.ret_hash, g.ret_hash), (0, -61), "{at}");
            deviations += 1;
        }
    }
    eprintln!(
        "veth per-frame agreement: {} frames, {tagged} VLAN-tagged, {hashed} hashed in tc, {deviations} flow-dissector deviations",
        ports.len()
    );
}

#[cfg(feature = "kernel")]
#[test]
fn per_packet_run_time_of_loadable_against_the_device_bound_call() {
    use bpfpatch::kernel::netns::Netns;
    use std::os::fd::FromRawFd;

    if !common::kernel() {
        return;
    }
    const FRAMES: u32 = 20_000;
    let (original, rewritten) = veth_loadable("xdp_meta.v4.o");
    // BPF_ENABLE_STATS: run-time statistics while this fd is open (no sysctl is changed).
    // SAFETY: a plain syscall wrapper; the returned fd is owned below.
    let fd = unsafe { libbpf_sys::bpf_enable_stats(libbpf_sys::BPF_STATS_RUN_TIME) };
    assert!(fd >= 0, "BPF_ENABLE_STATS failed: {fd}");
    // SAFETY: `fd` was just returned open and nothing else owns it.
    let _stats = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
    let ns = Netns::new().expect("network namespace with a veth pair");
    let per = |(ns_total, n): (u64, u64)| ns_total as f64 / n.max(1) as f64;
    let (_, bound) = veth_run(&ns, &original, true, FRAMES);
    let (_, inline) = veth_run(&ns, &rewritten, false, FRAMES);
    assert!(bound.1 >= u64::from(FRAMES) && inline.1 >= u64::from(FRAMES), "{bound:?} {inline:?}");
    eprintln!(
        "xdp_meta per packet: device-bound kfunc calls {:.1} ns ({} runs), loadable unrolled {:.1} ns ({} runs), ratio {:.2}",
        per(bound),
        bound.1,
        per(inline),
        inline.1,
        per(inline) / per(bound)
    );
}

/// The `veth_loader` example's binary, built next to this test by `cargo test` / nextest of the
/// package (examples are compiled with the tests).
#[cfg(feature = "kernel")]
fn example_binary(name: &str) -> Option<std::path::PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let path = exe.parent()?.parent()?.join("examples").join(name);
    path.exists().then_some(path)
}

#[cfg(feature = "kernel")]
#[test]
fn veth_loader_example_attaches_the_in_memory_rewrite_and_detaches() {
    use bpfpatch::kernel::netns::Netns;
    use std::io::{BufRead, BufReader, Read};
    use std::process::Stdio;

    if !common::kernel() {
        return;
    }
    let Some(exe) = example_binary("veth_loader") else {
        assert!(
            std::env::var_os("BPFPATCH_REQUIRE_KERNEL").is_none(),
            "examples/veth_loader is not built: run the package's tests whole (cargo test / nextest build examples)"
        );
        eprintln!("skipping: examples/veth_loader is not built (cargo test -p bpfpatch --features kernel builds it)");
        return;
    };
    let ns = Netns::new().expect("network namespace with a veth pair");
    let link = || {
        let out = Command::new("ip").args(["-n", ns.name(), "link", "show", "vb"]).output().expect("ip link");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let input = testdata("xdp_meta.v4.o");
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns.name(), s(&exe), s(&input), "vb", "--prog", "xdp_meta", "--seconds", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the example");
    let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
    let mut first = String::new();
    stdout.read_line(&mut first).expect("read");
    let id: u32 = first
        .split("(prog id ")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| {
            let mut err = String::new();
            let _ = child.stderr.take().map(|mut e| e.read_to_string(&mut err));
            panic!("no prog id in {first:?}; stderr: {err}")
        });
    assert!(first.starts_with("unrolled 6 calls; attached xdp_meta"), "{first}");
    assert!(link().contains(&format!("prog/xdp id {id}")), "attached while it runs: {}", link());
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).expect("read");
    let status = child.wait().expect("wait");
    assert!(status.success(), "{status}: {rest}");
    assert_eq!(rest, "detached xdp_meta from vb\n");
    assert!(!link().contains("prog/xdp"), "detached: {}", link());
    eprintln!("veth_loader attached prog id {id} to vb and detached it");
}
