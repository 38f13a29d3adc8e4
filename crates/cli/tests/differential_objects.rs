//! The interpreter against the kernel on real objects: every `testdata` program that
//! `BPF_PROG_TEST_RUN` can run (XDP, TC, socket filter) is loaded with libbpf and run on a set
//! of frames, and the same object is loaded by `bpf_verifier_model::load` (CO-RE resolved
//! against the running kernel's BTF) and run in the interpreter on the same frames, in the same
//! order (maps keep their contents between runs on both sides). Return value and output frame
//! must be equal, and so must the contents of every array map afterwards.
#![cfg(feature = "kernel")]
#![allow(clippy::print_stderr)]

mod common;

use bpf_patch::co_re::{Btf, Target};
use bpf_patch::elf::BpfObject;
use bpf_verifier_model::interp::{Helpers, Layout, Vm};
use bpf_verifier_model::load::host::running_kconfig;
use bpf_verifier_model::load::VMLINUX_BTF;
use bpf_verifier_model::load::{run_packet, LoadOptions, ObjectImage, ProgType};
use bpfpatch::kernel::load_set;
use common::{kernel, testdata_objects};

/// Ethernet + IPv4 + UDP (or `proto`) to `port`, `ttl`, `payload` bytes of payload.
fn ipv4(proto: u8, ttl: u8, port: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00];
    let total = (20 + 8 + payload.len()) as u16;
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&[0, 1, 0, 0, ttl, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
    f.extend_from_slice(&[0x04, 0xd2]);
    f.extend_from_slice(&port.to_be_bytes());
    f.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(payload);
    f
}

fn frames() -> Vec<(&'static str, Vec<u8>)> {
    let udp = ipv4(17, 64, 53, &[1, 2, 3, 4, 5, 6, 7, 8]);
    let mut ipv6 = vec![0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x86, 0xdd];
    ipv6.extend_from_slice(&[0x60, 0, 0, 0, 0, 16, 17, 64]);
    ipv6.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    ipv6.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    ipv6.extend_from_slice(&[0x04, 0xd2, 0, 53, 0, 16, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
    let mut ipv6_hop1 = ipv6.clone();
    ipv6_hop1[21] = 1;
    let mut vlan = udp[..12].to_vec();
    vlan.extend_from_slice(&[0x81, 0x00, 0x00, 0x2a]);
    vlan.extend_from_slice(&udp[12..]);
    let mut arp = udp.clone();
    arp[12..14].copy_from_slice(&[0x08, 0x06]);
    let mut magic = udp[..14].to_vec();
    magic.extend_from_slice(b"BPF!");
    magic.resize(60, 0);
    let mut truncated = udp.clone();
    truncated.truncate(24);
    vec![
        ("udp/53", udp.clone()),
        ("udp/7 ttl 1", ipv4(17, 1, 7, &[0; 18])),
        ("tcp/80", ipv4(6, 64, 80, &[0; 24])),
        ("udp big", ipv4(17, 64, 9, &[0xab; 1520])),
        ("ipv6 udp", ipv6),
        ("ipv6 hop limit 1", ipv6_hop1),
        ("vlan", vlan),
        ("arp", arp),
        ("magic", magic),
        ("truncated ipv4", truncated),
        ("ethernet only", udp[..14].to_vec()),
    ]
}

/// What the kernel returns as `data_out` for each program type: XDP includes the metadata
/// area in front of the frame.
fn expected_out(ty: ProgType, meta: &[u8], packet: &[u8]) -> Vec<u8> {
    match ty {
        ProgType::Xdp => [meta, packet].concat(),
        _ => packet.to_vec(),
    }
}

/// The test-run programs run in this process: `bpf_get_current_task` is a `task_struct` (laid
/// out from the running kernel's BTF) whose `real_parent->tgid` is our parent's pid.
fn current_task(vm: &mut Vm, task: &Layout) {
    // SAFETY: getppid has no preconditions.
    let ppid = unsafe { libc::getppid() } as u64;
    let parent = vm.memory.map_struct(task, &[("tgid", ppid)]).expect("task_struct has tgid");
    let me = vm.memory.map_struct(task, &[("real_parent", parent)]).expect("task_struct has real_parent");
    vm.helpers.current_task.set(me);
}

/// Compares every entry of every (non per-CPU) array map; returns how many were compared.
fn compare_array_maps(
    file: &str,
    program: &str,
    image: &ObjectImage,
    vm: &bpf_verifier_model::interp::Vm,
    loaded: &bpfpatch::kernel::Loaded,
    failures: &mut Vec<String>,
) -> usize {
    let names = loaded.map_names();
    let mut compared = 0;
    for (i, spec) in image.maps.iter().enumerate() {
        if spec.shape.map_type != bpf_verifier_model::load::maps::ARRAY {
            continue;
        }
        // libbpf names data section maps `<prefix>.<section>`, declared maps by their symbol.
        let kname = names
            .iter()
            .find(|n| **n == spec.name || (spec.name.starts_with('.') && n.ends_with(&spec.name)));
        let kname =
            kname.unwrap_or_else(|| panic!("{file}: no kernel map for {} among {names:?}", spec.name));
        let handle = bpf_verifier_model::interp::maps::MAP_BASE | i as u64;
        for key in 0..spec.shape.max_entries {
            let k = key.to_le_bytes();
            let ours = vm.maps.lookup(handle, &k).map(|a| {
                vm.memory.read_bytes(a, spec.shape.value_size).expect("array values are mapped").to_vec()
            });
            let theirs = loaded.map_lookup(kname, &k).expect("kernel map lookup");
            if theirs != ours {
                failures.push(format!(
                    "{file} {program}: map {} entry {key}: kernel {theirs:02x?}, interpreter {ours:02x?}",
                    spec.name
                ));
            }
            compared += 1;
        }
    }
    compared
}

#[test]
fn testdata_programs_agree_with_the_kernel() {
    if !kernel() {
        return;
    }
    let (mut programs, mut runs, mut maps, mut skipped) = (0, 0, 0, Vec::new());
    let vmlinux = Btf::from_file(VMLINUX_BTF).expect("the running kernel has BTF");
    let task = Layout::from_btf(&vmlinux, "task_struct").expect("vmlinux describes task_struct");
    let target = Target::new(&vmlinux);
    let kconfig = running_kconfig();
    let mut failures: Vec<String> = Vec::new();
    for path in testdata_objects() {
        let bytes = std::fs::read(&path).expect("read");
        let obj = BpfObject::parse(&bytes).expect("testdata objects parse");
        let sections =
            LoadOptions::resolve_core(&obj, &target).expect("the running kernel's BTF resolves CO-RE");
        let options =
            LoadOptions { sections: Some(sections), kconfig: kconfig.clone(), ..LoadOptions::default() };
        let image = match ObjectImage::new(&obj, &options) {
            Ok(i) => i,
            Err(e) => {
                failures.push(format!("{}: {e}", path.display()));
                continue;
            }
        };
        assert!(
            image.failed.is_empty(),
            "{}: programs that did not link: {:?}",
            path.display(),
            image.failed
        );
        let runnable: Vec<String> = image
            .programs
            .iter()
            .filter(|(_, l)| ProgType::of_section(&l.section).is_packet())
            .map(|(n, _)| n.clone())
            .collect();
        let file = path.file_name().and_then(|f| f.to_str()).unwrap_or("?").to_owned();
        for name in &runnable {
            // Each program in a fresh load, with every runnable program of the object (tail call
            // targets), so that its maps start empty on both sides.
            let Some(loaded) = load_set(&bytes, &runnable).expect("libbpf opens testdata") else {
                // The XDP metadata kfunc programs load only device-bound; no test run then.
                skipped.push(format!("{file}: {name}"));
                continue;
            };
            let ty = ProgType::of_section(&image.programs[name].section);
            let mut vm = image.vm(name, Helpers::kernel(0)).expect("builds a VM");
            current_task(&mut vm, &task);
            for (what, frame) in frames() {
                let kernel = loaded.test_run_program(name, &frame, 1);
                let ours = run_packet(&mut vm, ty, &frame, &[]);
                match (kernel, ours) {
                    (Ok(k), Ok(o)) => {
                        let out = expected_out(ty, &o.meta, &o.packet);
                        if (k.retval, &k.data_out) != (o.r0 as u32, &out) {
                            failures.push(format!(
                                "{file} {name} on {what}: kernel {} {:02x?}, interpreter {} {:02x?}",
                                k.retval, k.data_out, o.r0 as u32, out
                            ));
                        }
                        runs += 1;
                    }
                    // Both refuse the frame (too short for the context).
                    (Err(_), Err(bpf_verifier_model::load::RunError::ShortFrame { .. })) => {}
                    (k, o) => failures.push(format!(
                        "{file} {name} on {what}: kernel {:?}, interpreter {:?}",
                        k.map(|r| r.retval),
                        o.map(|r| r.r0)
                    )),
                }
            }
            maps += compare_array_maps(&file, name, &image, &vm, &loaded, &mut failures);
            programs += 1;
        }
    }
    eprintln!(
        "{programs} testdata programs, {runs} runs: interpreter and kernel agree on return value and \
         output frame, and on {maps} array map values afterwards; not test-runnable without a \
         device: {skipped:?}"
    );
    assert!(failures.is_empty(), "{} differences:\n{}", failures.len(), failures.join("\n"));
    assert!(programs >= 25, "only {programs} programs compared");
}
