//! What libbpf takes from the machine it runs on, for loading an object "as for this kernel":
//! `LINUX_KERNEL_VERSION` from the release string, `CONFIG_*` values from the kernel config
//! (`/boot/config-<release>` or `/proc/config.gz`) and the kernel BTF for CO-RE.

use std::collections::BTreeMap;
use std::io::Read;

/// `KERNEL_VERSION(a, b, c)` of a release string such as `6.18.44-fc-v782`, as libbpf
/// computes `LINUX_KERNEL_VERSION` (the patch level saturates at 255).
pub fn kernel_version(release: &str) -> Option<u64> {
    let mut parts = release.trim().split(['.', '-', '+']).map(|p| p.parse::<u64>().ok());
    let (a, b) = (parts.next()??, parts.next()??);
    let c = parts.next().flatten().unwrap_or(0);
    Some((a << 16) | (b << 8) | c.min(255))
}

/// Values of a kernel config text (`CONFIG_X=y` lines) as libbpf gives them to `__kconfig`
/// externs: `y` 1, `m` 2 (libbpf's tristate), `n` 0, numbers as numbers; strings are left out.
pub fn parse_kconfig(text: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Some((name, value)) = line.split_once('=') else { continue };
        if !name.starts_with("CONFIG_") {
            continue;
        }
        let v = match value {
            "y" => Some(1),
            "m" => Some(2),
            "n" => Some(0),
            v => match v.strip_prefix("0x") {
                Some(h) => u64::from_str_radix(h, 16).ok(),
                None => v.parse::<i64>().ok().map(|n| n as u64),
            },
        };
        if let Some(v) = v {
            out.insert(name.to_owned(), v);
        }
    }
    out
}

/// The running kernel's `__kconfig` values: `LINUX_KERNEL_VERSION` and the config, if it can
/// be read (empty otherwise: externs then read 0, as `__weak` ones do under libbpf).
pub fn running_kconfig() -> BTreeMap<String, u64> {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let release = release.trim();
    let text = std::fs::read_to_string(format!("/boot/config-{release}")).ok().or_else(|| {
        let gz = std::fs::read("/proc/config.gz").ok()?;
        let mut s = String::new();
        flate2::read::GzDecoder::new(&gz[..]).read_to_string(&mut s).ok()?;
        Some(s)
    });
    let mut values = text.as_deref().map(parse_kconfig).unwrap_or_default();
    if let Some(v) = kernel_version(release) {
        values.insert("LINUX_KERNEL_VERSION".into(), v);
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_and_config_values_read_as_libbpf_reads_them() {
        assert_eq!(kernel_version("6.18.44-fc-v782"), Some((6 << 16) | (18 << 8) | 44));
        assert_eq!(kernel_version("5.4.300"), Some((5 << 16) | (4 << 8) | 255));
        assert_eq!(kernel_version("6.1"), Some((6 << 16) | (1 << 8)));
        assert_eq!(kernel_version("linux"), None);
        let c =
            parse_kconfig("# comment\nCONFIG_A=y\nCONFIG_B=m\nCONFIG_C=0x10\nCONFIG_D=-1\nCONFIG_E=\"s\"\n");
        assert_eq!(c.get("CONFIG_A"), Some(&1));
        assert_eq!(c.get("CONFIG_B"), Some(&2));
        assert_eq!(c.get("CONFIG_C"), Some(&16));
        assert_eq!(c.get("CONFIG_D"), Some(&u64::MAX));
        assert_eq!(c.get("CONFIG_E"), None);
    }
}
