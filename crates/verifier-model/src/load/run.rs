//! Running a loaded program on one frame the way `BPF_PROG_TEST_RUN` does: the context its
//! program type gets, and the output frame and metadata it leaves.
//!
//! - XDP: the frame starts at `data` with 256 bytes of headroom; the output is `data ..
//!   data_end` and the metadata `data_meta .. data`.
//! - TC (`SCHED_CLS`): an `__sk_buff` whose `data` is the Ethernet header, `protocol` the
//!   frame's ethertype (network order), metadata before `data`.
//! - Socket filter and cgroup skb: as the kernel's `bpf_prog_test_run_skb` for a non-L2
//!   program type, `data`
//!   starts after the 14-byte Ethernet header; the output gets a zeroed 14-byte header back
//!   (`memset(__skb_push(skb, hh_len), 0, hh_len)`).

use thiserror::Error;

use super::ProgType;
use crate::interp::{InterpError, LayoutError, MemError, SkbSetup, Vm, XdpSetup};

const ETH_HLEN: usize = 14;

/// What one run produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacketRun {
    /// R0 at exit.
    pub r0: u64,
    /// Instructions executed.
    pub insns: u64,
    /// The output frame.
    pub packet: Vec<u8>,
    /// The metadata area in front of it.
    pub meta: Vec<u8>,
}

/// Why a packet run did not produce a result.
#[derive(Debug, Error)]
pub enum RunError {
    /// The program faulted.
    #[error(transparent)]
    Fault(#[from] InterpError),
    /// The program type has no packet context here.
    #[error("programs of this type ({0:?}) do not run on packets; xdp, tc and socket programs do")]
    NotPacketProgram(ProgType),
    /// The frame is shorter than `BPF_PROG_TEST_RUN` accepts (EINVAL there): an Ethernet
    /// header, and for `__sk_buff` programs the whole IPv4 or IPv6 header its ethertype announces.
    #[error("the frame has {len} bytes; BPF_PROG_TEST_RUN needs at least {needed} for it")]
    ShortFrame {
        /// Frame length.
        len: usize,
        /// The minimum.
        needed: usize,
    },
    /// Building the context failed.
    #[error("building the context: {0}")]
    Context(#[from] LayoutError),
    /// Reading the output failed (the program left the pointers invalid).
    #[error("reading the output frame: {0}")]
    Output(#[from] MemError),
}

/// The ethertype in network order as `__sk_buff.protocol` reads it.
fn protocol(frame: &[u8]) -> u64 {
    frame.get(12..14).map_or(0, |b| u64::from(u16::from_le_bytes([b[0], b[1]])))
}

/// The shortest frame `BPF_PROG_TEST_RUN` runs for `ty` (measured on 6.18): 14 bytes, and for
/// `__sk_buff` programs 34 for IPv4 and 54 for IPv6 frames.
fn min_frame(ty: ProgType, frame: &[u8]) -> usize {
    if ty == ProgType::Xdp {
        return ETH_HLEN;
    }
    match frame.get(12..14) {
        Some([0x08, 0x00]) => ETH_HLEN + 20,
        Some([0x86, 0xdd]) => ETH_HLEN + 40,
        _ => ETH_HLEN,
    }
}

/// Builds the context for `ty` around `frame` (with `meta` in front for TC), runs the VM's
/// program once and collects the output.
pub fn run_packet(vm: &mut Vm, ty: ProgType, frame: &[u8], meta: &[u8]) -> Result<PacketRun, RunError> {
    let needed = min_frame(ty, frame);
    if frame.len() < needed {
        return Err(RunError::ShortFrame { len: frame.len(), needed });
    }
    match ty {
        ProgType::Xdp => {
            // BPF_PROG_TEST_RUN gives the frame a page: 256 bytes of headroom, the data, the
            // rest tailroom (frame_sz 4096).
            let mut setup = XdpSetup::new(frame.to_vec());
            setup.tailroom = 4096usize.saturating_sub(setup.headroom + frame.len());
            let r1 = vm.try_setup_xdp(&setup)?;
            let out = vm.run([r1, 0, 0, 0, 0])?;
            let x = vm.xdp.expect("setup_xdp built the context");
            let (meta, packet) = x.output(&vm.memory)?;
            Ok(PacketRun { r0: out.r0, insns: out.insns, packet, meta })
        }
        ProgType::SchedCls | ProgType::SchedAct | ProgType::SocketFilter | ProgType::CgroupSkb => {
            let l2 = ty.is_tc();
            let packet = if l2 { frame.to_vec() } else { frame[ETH_HLEN..].to_vec() };
            let setup = SkbSetup {
                packet,
                meta: if l2 { meta.to_vec() } else { Vec::new() },
                fields: vec![("protocol", protocol(frame)), ("ifindex", 1), ("ingress_ifindex", 1)],
                ..SkbSetup::default()
            };
            let r1 = vm.setup_skb(&setup)?;
            let out = vm.run([r1, 0, 0, 0, 0])?;
            let s = vm.skb.expect("setup_skb built the context");
            // Like bpf_prog_test_run_skb, a non-L2 program's output gets a zeroed link header.
            let mut packet = if l2 { Vec::new() } else { vec![0; ETH_HLEN] };
            packet.extend_from_slice(s.packet(&vm.memory)?);
            let meta =
                vm.memory.read_bytes(crate::interp::Memory::addr(s.packet, 0), s.data as u32)?.to_vec();
            Ok(PacketRun { r0: out.r0, insns: out.insns, packet, meta })
        }
        _ => Err(RunError::NotPacketProgram(ty)),
    }
}
