use super::*;
use crate::emit::{emit, Lowering};
use crate::kfunc::{Abi, Kfunc};

#[test]
fn every_bundled_profile_parses_and_writes_back_to_its_file() {
    for (name, text) in BUNDLED {
        let p = Profile::parse(name, text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(p.driver, name);
        assert!(!p.sources.is_empty(), "{name} lists its layouts");
        assert_eq!(p.to_text(), text, "{name}: the file is what the writer writes");
        for s in &p.sources {
            assert!(
                !s.parts.is_empty() && s.parts.iter().all(|part| !part.fields.is_empty()),
                "{name} {}",
                s.layout
            );
            let layout =
                p.layouts.all().into_iter().find(|l| l.name == s.layout).expect("listed layouts are slots");
            assert!(layout.fields.iter().all(|f| f.offset + f.size <= layout.size), "{name} {}", s.layout);
        }
    }
}

#[test]
fn bundled_layouts_agree_with_the_interpreter_where_the_profile_says_so() {
    let hand = Layouts::v6_18();
    let mut compared = 0;
    for p in Profile::all_bundled().expect("bundled profiles parse") {
        for s in &p.sources {
            let mine = p.layouts.all().into_iter().find(|l| l.name == s.layout).expect("a slot");
            let theirs = hand.all().into_iter().find(|l| l.name == s.layout).expect("a slot");
            let from_interpreter = s.parts.iter().any(|part| matches!(part.source, Source::Interpreter(_)));
            if from_interpreter {
                // Drift check: the wrappers are the interpreter's; regenerate when it changes.
                assert_eq!(mine, theirs, "{} {}: run scripts/derive-profiles.sh", p.driver, s.layout);
            } else if s.notes.iter().any(|n| n.contains("agrees with the interpreter")) {
                for f in &theirs.fields {
                    assert_eq!(mine.find(&f.name), Some(f), "{} {}.{}", p.driver, s.layout, f.name);
                    compared += 1;
                }
            }
        }
    }
    assert!(compared > 50, "compared {compared} fields");
}

#[test]
fn provenance_names_file_and_type_id() {
    let ice = Profile::bundled_by_name("ice").expect("parses").expect("bundled");
    let lines = ice.provenance();
    let desc = lines.iter().find(|l| l.starts_with("ice_32b_rx_flex_desc: BTF of linux-image-6.1.0-"));
    assert!(desc.is_some_and(|l| l.contains(" ice.ko, type id ")), "{lines:#?}");
    assert!(lines
        .iter()
        .any(|l| l.starts_with("ice_32b_rx_flex_desc: ") && l.ends_with("(ice_32b_rx_flex_desc_nic)")));
    assert!(lines.iter().any(|l| l.starts_with("ice_xdp_buff: the interpreter's ice_xdp_buff")));
    let veth = Profile::bundled_by_name("veth").expect("parses").expect("bundled");
    assert!(veth.provenance().iter().all(|l| l.contains("this machine's 6.18")), "{:#?}", veth.provenance());
    assert!(Profile::bundled_by_name("default").expect("no file to parse").is_none());
}

#[test]
fn malformed_profiles_are_errors_with_their_line() {
    let head = "profile t\nkernel k\norigin machine r\n";
    let cases = [
        ("", 0, "no `profile` line"),
        ("profile t\nkernel k\n", 2, "no `origin` line"),
        ("layout xdp_buff 56\n", 4, "no `from` line"),
        ("field data 0 8\n", 4, "before any layout"),
        ("layout xdp_buff 56\nfield data 0 8\n", 5, "before any `from`"),
        ("layout nosuch 8\n", 4, "no layout slot"),
        ("layout xdp_buff x\n", 4, "is not a number"),
        ("layout xdp_buff 56\nfrom btf vmlinux 1 xdp_buff\nfield data 60 8\n", 6, "ends beyond"),
        ("layout xdp_buff 56\nfrom btf vmlinux 1 xdp_buff\nbitfield b 0 1 7 2\n", 6, "does not fit"),
        ("layout xdp_buff 56\nfrom btf vmlinux 1 xdp_buff\nlayout xdp_buff 56\n", 6, "given twice"),
        ("layout xdp_buff 56\nfrom nowhere\n", 5, "unknown source"),
        ("frobnicate\n", 4, "unknown keyword"),
        ("layout xdp_buff 56 7\n", 4, "trailing words"),
    ];
    for (body, line, want) in cases {
        let text = if body.starts_with("profile") || body.is_empty() {
            body.to_owned()
        } else {
            format!("{head}{body}")
        };
        match Profile::parse("t", &text) {
            Err(ProfileError::Parse { line: l, reason, .. }) => {
                assert!(reason.contains(want), "{body:?}: {reason}");
                assert_eq!(l, line, "{body:?}: {reason}");
            }
            other => panic!("{body:?}: {other:?}"),
        }
    }
}

#[test]
fn bundled_profiles_emit_what_the_interpreter_layouts_emit() {
    let mut emitted = 0;
    for driver in Driver::ALL {
        let Some(p) = Profile::bundled(driver).expect("parses") else { continue };
        for abi in Abi::ALL {
            for &kfunc in abi.kfuncs() {
                for lowering in [Lowering::Kernel, Lowering::Stub] {
                    let with_profile = emit(driver, kfunc, lowering, &p.layouts);
                    let with_defaults = emit(driver, kfunc, lowering, &Layouts::v6_18());
                    match (with_profile, with_defaults) {
                        (Ok(a), Ok(b)) => assert_eq!(a, b, "{driver} {kfunc:?} {lowering}"),
                        (a, b) => {
                            assert_eq!(a.is_ok(), b.is_ok(), "{driver} {kfunc:?} {lowering}: {a:?} {b:?}")
                        }
                    }
                    emitted += 1;
                }
            }
        }
    }
    assert!(emitted >= 12, "{emitted}");
}

#[test]
fn a_field_of_an_absent_struct_is_an_error_naming_type_and_field() {
    let mut p = Profile::bundled(Driver::Veth).expect("parses").expect("bundled");
    p.origin = Origin::Files { btf: "mod.btf".into(), base: Some("vmlinux.btf".into()) };
    *p.layouts.by_name_mut("veth_xdp_buff").expect("slot") = Layout::new("veth_xdp_buff", 0);
    let s = p.sources.iter_mut().find(|s| s.layout == "veth_xdp_buff").expect("listed");
    s.parts = vec![Part { source: Source::Absent, fields: Vec::new() }];
    let err = emit(Driver::Veth, Kfunc::RxTimestamp, Lowering::Kernel, &p.layouts).expect_err("no skb field");
    let text = p.explain(err).to_string();
    assert_eq!(
        text,
        "veth bpf_xdp_metadata_rx_timestamp: BTF mod.btf on base vmlinux.btf has no struct veth_xdp_buff \
         (needed for veth_xdp_buff.skb)"
    );
    // A field missing from a struct that is present stays the plain error.
    let mut q = Profile::bundled(Driver::Veth).expect("parses").expect("bundled");
    q.layouts.sk_buff.fields.retain(|f| f.name != "head");
    let err = emit(Driver::Veth, Kfunc::RxTimestamp, Lowering::Kernel, &q.layouts).expect_err("no head");
    assert_eq!(
        q.explain(err).to_string(),
        "veth bpf_xdp_metadata_rx_timestamp: struct sk_buff has no field head"
    );
}

#[test]
#[allow(clippy::print_stdout)] // the skip reason is the test's report
fn from_btf_of_this_kernel_matches_the_bundled_veth_profile() {
    let path = std::path::Path::new("/sys/kernel/btf/vmlinux");
    let Ok(loaded) = LoadedBtf::read(path, None) else {
        assert!(
            std::env::var("BPFPATCH_REQUIRE_KERNEL").map_or(true, |v| v != "1"),
            "BPFPATCH_REQUIRE_KERNEL=1 but /sys/kernel/btf/vmlinux is unreadable"
        );
        println!("skipped: /sys/kernel/btf/vmlinux is not readable");
        return;
    };
    let p = Profile::from_btf(Driver::Veth, &loaded.files(path, None), "running").expect("lays out");
    let bundled = Profile::bundled(Driver::Veth).expect("parses").expect("bundled");
    let names: Vec<&str> = p.sources.iter().map(|s| s.layout.as_str()).collect();
    assert_eq!(names, ["xdp_buff", "veth_xdp_buff", "sk_buff", "skb_shared_info"]);
    for s in &bundled.sources {
        let mine = p.layouts.all().into_iter().find(|l| l.name == s.layout).expect("slot");
        let theirs = bundled.layouts.all().into_iter().find(|l| l.name == s.layout).expect("slot");
        if Some(&bundled.origin) == Some(&Origin::Machine { release: running_release() }) {
            assert_eq!(mine, theirs, "{}", s.layout);
        }
        assert_eq!(mine.size, theirs.size, "{}", s.layout);
    }
    // This kernel has no ice: every ice layout is absent, and says so.
    assert!(p.layouts.ice_32b_rx_flex_desc.fields.is_empty());
}

fn running_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease").map(|s| s.trim().to_owned()).unwrap_or_default()
}
