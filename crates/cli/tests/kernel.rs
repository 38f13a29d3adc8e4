//! The kernel loader against the running kernel (feature `kernel`): the verifier's verdicts on
//! every `testdata` program, a device-bound XDP metadata program on real veth traffic inside a
//! network namespace, `BPF_PROG_TEST_RUN`, and the namespace fixture's cleanup.
//!
//! Skips with a printed reason when not root or without BTF, unless `BPFPATCH_REQUIRE_KERNEL=1`.
#![cfg(feature = "kernel")]
#![allow(clippy::print_stderr)]

mod common;

use std::time::{Duration, Instant};

use bpfpatch::kernel::netns::Netns;
use bpfpatch::kernel::{load_each, load_one, LoadOptions};
use common::{kernel, testdata, testdata_objects};

#[test]
fn every_testdata_program_gets_the_kernels_verdict() {
    if !kernel() {
        return;
    }
    let (mut accepted, mut needs_binding, mut needs_unroll) = (0, 0, 0);
    for path in testdata_objects() {
        let bytes = std::fs::read(&path).expect("read object");
        let loads =
            load_each(&bytes, &LoadOptions::default()).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(!loads.is_empty(), "{}: no programs", path.display());
        for l in loads {
            let what = format!("{} {}", path.display(), l.name);
            // The programs calling the RX-metadata kfuncs are named `xdp_meta*`.
            if l.name.starts_with("xdp_meta") {
                assert!(!l.accepted, "{what}: metadata kfuncs load only device-bound");
                assert_eq!(
                    l.summary.message.as_deref(),
                    Some("metadata kfuncs require device-bound program"),
                    "{what}"
                );
                needs_binding += 1;
            } else if l.name.starts_with("rfc_") {
                // The RFC's kfuncs do not exist here: libbpf refuses before the verifier runs.
                assert!(!l.accepted && l.summary.insns_processed.is_none(), "{what}: {:?}", l.summary);
                needs_unroll += 1;
            } else {
                assert!(l.accepted, "{what}: {:?}\n{}", l.summary.message, l.log);
                assert!(l.summary.insns_processed.is_some_and(|n| n > 0), "{what}: no `processed N insns`");
                assert!(l.summary.verification_time_us.is_some(), "{what}: no `verification time`");
                accepted += 1;
            }
        }
    }
    eprintln!(
        "kernel accepted {accepted} programs; {needs_binding} metadata programs refused without device binding; {needs_unroll} RFC-ABI programs refused by libbpf"
    );
    assert!(accepted >= 30 && needs_binding >= 4 && needs_unroll >= 2);
}

/// An Ethernet + IPv4 + UDP frame.
fn udp_frame(dst_mac: [u8; 6], ttl: u8, dport: u16) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&dst_mac);
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x01]);
    f.extend_from_slice(&[0x08, 0x00]);
    let payload = b"bpfpatch";
    let total = 20 + 8 + payload.len() as u16;
    f.extend_from_slice(&[0x45, 0, (total >> 8) as u8, total as u8, 0, 1, 0, 0, ttl, 17, 0, 0]);
    f.extend_from_slice(&[192, 0, 2, 1, 192, 0, 2, 2]);
    f.extend_from_slice(&4242u16.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&(8 + payload.len() as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(payload);
    f
}

#[test]
fn test_run_returns_the_parsers_verdicts() {
    if !kernel() {
        return;
    }
    let bytes = std::fs::read(testdata("xdp_parse.v4.o")).expect("read object");
    let (load, loaded) = load_one(&bytes, "xdp_parse", "xdp", &LoadOptions::default()).expect("opens");
    let loaded = loaded.unwrap_or_else(|| panic!("rejected: {:?}", load.summary.message));
    const XDP_ABORTED: u32 = 0;
    const XDP_DROP: u32 = 1;
    const XDP_PASS: u32 = 2;
    const XDP_TX: u32 = 3;
    let mac = [0x02, 0, 0, 0, 0, 0x02];
    let mut arp = udp_frame(mac, 64, 53);
    arp[12..14].copy_from_slice(&[0x08, 0x06]);
    let cases = [
        ("UDP to discard", udp_frame(mac, 64, 9), XDP_DROP),
        ("UDP to DNS", udp_frame(mac, 64, 53), XDP_PASS),
        ("TTL 0", udp_frame(mac, 0, 53), XDP_ABORTED),
        ("ARP", arp, XDP_PASS),
    ];
    for (what, frame, want) in cases {
        let run = loaded.test_run(&frame, 1).expect("BPF_PROG_TEST_RUN");
        assert_eq!(run.retval, want, "{what}");
        assert_eq!(run.data_out.len(), frame.len(), "{what}: packet length");
    }
    let echo = udp_frame(mac, 64, 7);
    let run = loaded.test_run(&echo, 1).expect("BPF_PROG_TEST_RUN");
    assert_eq!(run.retval, XDP_TX);
    assert_eq!((&run.data_out[0..6], &run.data_out[6..12]), (&echo[6..12], &echo[0..6]), "MACs swapped");
}

#[test]
fn device_bound_metadata_program_sees_veth_traffic() {
    if !kernel() {
        return;
    }
    let bytes = std::fs::read(testdata("xdp_meta.v4.o")).expect("read object");
    let ns = Netns::new().expect("network namespace with a veth pair");
    let ifindex = ns.ifindex("vb").expect("vb exists");
    let mac = ns.mac("vb").expect("vb has a MAC");
    let opts = LoadOptions { dev_bound_ifindex: Some(ifindex), ..LoadOptions::default() };
    // Binding and attaching resolve the ifindex in the calling thread's namespace.
    let (load, loaded, link) = ns
        .run_in(|| {
            let (load, loaded) = load_one(&bytes, "xdp_meta", "xdp", &opts).expect("opens");
            let link = loaded.as_ref().map(|l| l.attach_xdp(ifindex).expect("attach to vb"));
            (load, loaded, link)
        })
        .expect("enter the namespace");
    let loaded = loaded
        .unwrap_or_else(|| panic!("device-bound load rejected: {:?}\n{}", load.summary.message, load.log));
    ns.send_frames("va", &[udp_frame(mac, 64, 53), udp_frame(mac, 64, 54), udp_frame(mac, 64, 55)])
        .expect("send");
    let deadline = Instant::now() + Duration::from_secs(3);
    let record = loop {
        let r = loaded.map_lookup("rx_results", &0u32.to_ne_bytes()).expect("lookup").expect("slot 0 exists");
        let count = u32::from_ne_bytes(r[28..32].try_into().expect("4 bytes"));
        if count >= 3 || Instant::now() > deadline {
            break r;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // struct rx_meta (testdata/src/xdp_meta.bpf.c): timestamp 0, hash 8, rss_type 12,
    // vlan_proto 16, vlan_tci 18, ret_timestamp 20, ret_hash 22, ret_vlan 24, flags 26, count 28.
    let i16_at = |o: usize| i16::from_ne_bytes(record[o..o + 2].try_into().expect("2 bytes"));
    assert_eq!(u32::from_ne_bytes(record[28..32].try_into().expect("4 bytes")), 3, "frames seen");
    assert_eq!(i16_at(26) & 1, 1, "record valid");
    assert_eq!((i16_at(20), i16_at(22)), (0, 0), "veth has a timestamp (0 without HW stamping) and a hash");
    assert_eq!(i16_at(24), -61, "untagged frames: rx_vlan_tag is -ENODATA");
    drop(link);
}

#[test]
fn namespace_is_deleted_even_when_a_test_panics() {
    if !kernel() {
        return;
    }
    let name = std::thread::spawn(|| {
        let ns = Netns::new().expect("namespace");
        let name = ns.name().to_owned();
        std::panic::set_hook(Box::new(|_| {}));
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let _keep = ns;
            panic!("a failing test");
        }));
        let _ = std::panic::take_hook();
        name
    })
    .join()
    .expect("thread");
    let list = std::process::Command::new("ip").args(["netns", "list"]).output().expect("ip netns list");
    assert!(!String::from_utf8_lossy(&list.stdout).contains(&name), "{name} survived the panic");
}
