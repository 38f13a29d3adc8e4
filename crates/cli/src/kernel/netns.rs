//! A test fixture: a uniquely named network namespace holding a veth pair, deleted on drop (also
//! when a test panics). All traffic stays inside it: frames are sent with an `AF_PACKET` socket
//! created inside the namespace, no addresses are configured, IPv6 is off.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// Why the fixture could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    /// An `ip` command failed.
    #[error("`{command}` failed: {stderr}")]
    Command {
        /// The command line.
        command: String,
        /// What it printed on stderr (or the spawn error).
        stderr: String,
    },
    /// A system call failed.
    #[error("{call} failed: {source}")]
    Sys {
        /// The call.
        call: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn ip(args: &[&str]) -> Result<(), NetnsError> {
    let command = format!("ip {}", args.join(" "));
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| NetnsError::Command { command: command.clone(), stderr: e.to_string() })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(NetnsError::Command { command, stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned() })
    }
}

/// A network namespace `bpfpatch-<pid>-<n>` with a veth pair `va` <-> `vb`, both up.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates the namespace and the veth pair. On any failure what was created is deleted.
    pub fn new() -> Result<Netns, NetnsError> {
        let name = format!("bpfpatch-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        ip(&["netns", "add", &name])?;
        // From here on, Drop deletes the namespace (and the veth pair inside it).
        let ns = Netns { name };
        ip(&["-n", &ns.name, "link", "add", "va", "type", "veth", "peer", "name", "vb"])?;
        for dev in ["lo", "va", "vb"] {
            ip(&["-n", &ns.name, "link", "set", dev, "up"])?;
        }
        for dev in ["all", "default", "va", "vb"] {
            let key = format!("net.ipv6.conf.{dev}.disable_ipv6=1");
            // Best effort: a kernel without IPv6 has nothing to disable.
            let _ = Command::new("ip").args(["netns", "exec", &ns.name, "sysctl", "-q", "-w", &key]).output();
        }
        Ok(ns)
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `f` with the calling thread inside the namespace (other threads are unaffected), then
    /// returns the thread to its original namespace.
    pub fn run_in<T>(&self, f: impl FnOnce() -> T) -> Result<T, NetnsError> {
        let original = open_ro("/proc/thread-self/ns/net")?;
        let target = open_ro(&format!("/run/netns/{}", self.name))?;
        setns(&target)?;
        let result = f();
        setns(&original)?;
        Ok(result)
    }

    /// The interface index of `dev` inside the namespace.
    pub fn ifindex(&self, dev: &str) -> Result<u32, NetnsError> {
        let name =
            CString::new(dev).map_err(|e| NetnsError::Sys { call: "if_nametoindex", source: e.into() })?;
        // SAFETY: `name` is a valid NUL-terminated string.
        let index = self.run_in(|| unsafe { libc::if_nametoindex(name.as_ptr()) })?;
        if index == 0 {
            return Err(NetnsError::Sys { call: "if_nametoindex", source: std::io::Error::last_os_error() });
        }
        Ok(index)
    }

    /// The MAC address of `dev` inside the namespace.
    pub fn mac(&self, dev: &str) -> Result<[u8; 6], NetnsError> {
        let command = format!("ip -n {} link show {dev}", self.name);
        let out = Command::new("ip")
            .args(["-n", &self.name, "link", "show", dev])
            .output()
            .map_err(|e| NetnsError::Command { command: command.clone(), stderr: e.to_string() })?;
        let text = String::from_utf8_lossy(&out.stdout);
        let mac = text
            .split_whitespace()
            .skip_while(|w| *w != "link/ether")
            .nth(1)
            .and_then(parse_mac)
            .ok_or_else(|| NetnsError::Command {
                command,
                stderr: format!("no link/ether address in: {text}"),
            })?;
        Ok(mac)
    }

    /// Sends raw Ethernet frames out of `dev` (from inside the namespace).
    pub fn send_frames(&self, dev: &str, frames: &[Vec<u8>]) -> Result<(), NetnsError> {
        let ifindex = self.ifindex(dev)?;
        self.run_in(|| send_on(ifindex, frames))?
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting the namespace also deletes the veth pair and detaches XDP programs.
        let _ = Command::new("ip").args(["netns", "del", &self.name]).output();
    }
}

fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = s.split(':');
    for byte in &mut out {
        *byte = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

fn open_ro(path: &str) -> Result<OwnedFd, NetnsError> {
    let file =
        std::fs::File::open(path).map_err(|source| NetnsError::Sys { call: "open namespace", source })?;
    Ok(OwnedFd::from(file))
}

fn setns(fd: &OwnedFd) -> Result<(), NetnsError> {
    // SAFETY: `fd` is an open namespace file; setns only changes this thread's namespace.
    let rc = unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc == 0 {
        Ok(())
    } else {
        Err(NetnsError::Sys { call: "setns", source: std::io::Error::last_os_error() })
    }
}

fn send_on(ifindex: u32, frames: &[Vec<u8>]) -> Result<(), NetnsError> {
    let proto = (libc::ETH_P_ALL as u16).to_be();
    // SAFETY: plain socket(2) call; the fd is owned below.
    let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, i32::from(proto)) };
    if raw < 0 {
        return Err(NetnsError::Sys { call: "socket(AF_PACKET)", source: std::io::Error::last_os_error() });
    }
    // SAFETY: `raw` is a fresh, valid fd that nothing else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: sockaddr_ll is plain data; all-zero is a valid starting value.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = proto;
    addr.sll_ifindex = i32::try_from(ifindex).unwrap_or(i32::MAX);
    let addr_len = u32::try_from(std::mem::size_of::<libc::sockaddr_ll>()).expect("sockaddr_ll is small");
    for frame in frames {
        // SAFETY: `frame` and `addr` are valid for the lengths passed.
        let sent = unsafe {
            libc::sendto(
                sock.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                0,
                std::ptr::addr_of!(addr).cast(),
                addr_len,
            )
        };
        if sent < 0 {
            return Err(NetnsError::Sys {
                call: "sendto(AF_PACKET)",
                source: std::io::Error::last_os_error(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_addresses_parse_strictly() {
        assert_eq!(parse_mac("02:00:5e:10:00:01"), Some([2, 0, 0x5e, 0x10, 0, 1]));
        assert_eq!(parse_mac("02:00:5e:10:00"), None);
        assert_eq!(parse_mac("02:00:5e:10:00:01:07"), None);
        assert_eq!(parse_mac("zz:00:5e:10:00:01"), None);
    }
}
