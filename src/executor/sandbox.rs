//! The sandbox of every child prgate starts on repository content (plans and executor
//! commands): Linux Landlock confines the child to its checkout, the system's read-only
//! paths and what the operator lists for the executor, so that a file or symlink in a PR can
//! never make a child read prgate's config, keys, data or another process's memory.
//!
//! The ruleset is built in prgate's own process (it opens paths and allocates); the child only
//! makes two system calls between fork and exec, which is all that is safe there.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use crate::config::{ExecutorConfig, SandboxSetting};
use landlock::{
    ABI, Access, AccessFs, AccessNet, CompatLevel, Compatible, PathBeneath, PathFd, Ruleset,
    RulesetAttr, RulesetCreatedAttr, Scope,
};

/// What the system gives every child, read-only: programs, libraries, and only the `/etc`
/// entries programs need to run and resolve names. Landlock only allows, so a whole `/etc`
/// would also allow a config or key kept in `/etc/prgate`; each entry is listed instead.
/// Entries missing on a machine are skipped.
const SYSTEM_READ: [&str; 26] = [
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib64",
    "/lib32",
    "/libx32",
    "/etc/alternatives",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/ca-certificates.conf",
    "/etc/pki",
    "/etc/passwd",
    "/etc/group",
    "/etc/hosts",
    "/etc/host.conf",
    "/etc/resolv.conf",
    "/etc/nsswitch.conf",
    "/etc/gai.conf",
    "/etc/services",
    "/etc/protocols",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/localtime",
    "/dev/urandom",
];

/// Devices any program may write to and read from. Nothing else of `/dev` (no terminals, no
/// `/dev/ptmx`, no disks).
const SYSTEM_READ_WRITE: [&str; 4] = ["/dev/null", "/dev/zero", "/dev/full", "/dev/random"];

/// What one child may reach besides the system's paths.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SandboxRules {
    /// The checkout, its git directory, a temporary folder of its own, the executor's
    /// `sandbox.write`.
    pub read_write: Vec<PathBuf>,
    /// The objects the checkout borrows, the executor's `sandbox.read`.
    pub read_only: Vec<PathBuf>,
    /// TCP connect and bind allowed (executors; plans only with `plan_network = true`).
    pub network: bool,
}

/// Whether a child runs confined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Isolation {
    /// Confined by Landlock; the child does not start where the kernel cannot confine it.
    Sandboxed(SandboxRules),
    /// The operator's `sandbox = "off"`: the child has the gate's own reach.
    Off,
}

impl Isolation {
    /// An executor command's sandbox: network, its `sandbox.read` read-only and its
    /// `sandbox.write` read-write, plus `borrowed` (the objects its checkout reads) read-only.
    pub(crate) fn for_command(exec: &ExecutorConfig, borrowed: &Path) -> Self {
        match &exec.sandbox {
            SandboxSetting::Off => Isolation::Off,
            SandboxSetting::Paths(p) => Isolation::Sandboxed(SandboxRules {
                read_write: p.write.clone(),
                read_only: p
                    .read
                    .iter()
                    .chain([&borrowed.to_path_buf()])
                    .cloned()
                    .collect(),
                network: true,
            }),
        }
    }

    /// A plan's sandbox: it runs before anyone approved the change, so it writes nowhere but
    /// its checkout, reads the executor's `sandbox.read` and `sandbox.write` (to show the
    /// state it would change), and has no TCP unless `plan_network = true`.
    pub(crate) fn for_plan(exec: &ExecutorConfig, borrowed: &Path) -> Self {
        match &exec.sandbox {
            SandboxSetting::Off => Isolation::Off,
            SandboxSetting::Paths(p) => Isolation::Sandboxed(SandboxRules {
                read_write: Vec::new(),
                read_only: p
                    .read
                    .iter()
                    .chain(&p.write)
                    .chain([&borrowed.to_path_buf()])
                    .cloned()
                    .collect(),
                network: exec.plan_network,
            }),
        }
    }
}

/// The Landlock ABI the running kernel offers, `None` where it has no Landlock (not built in,
/// or not enabled at boot).
pub fn kernel_abi() -> Option<i32> {
    // SAFETY: landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION) only returns the
    // ABI version; it reads no memory and creates nothing.
    let v = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            1u32,
        )
    };
    (v > 0).then(|| i32::try_from(v).unwrap_or(i32::MAX))
}

/// One line for the log at start: what the sandbox can do on this kernel.
pub fn report() -> String {
    match kernel_abi() {
        Some(abi) if abi >= 4 => format!(
            "Landlock ABI {abi}: plans and executor commands run sandboxed (files and TCP)"
        ),
        Some(abi) => format!(
            "Landlock ABI {abi}: files are sandboxed, but this kernel cannot restrict TCP (ABI 4, Linux 6.7), so plans without plan_network do not start"
        ),
        None => "Landlock is not available on this kernel: plans and executor commands do not start unless their executor sets sandbox = \"off\"".to_string(),
    }
}

/// A ruleset made in the gate's process, applied by the child just before exec.
#[derive(Debug)]
pub(crate) struct Confinement {
    fd: OwnedFd,
}

impl Confinement {
    /// Builds the ruleset for `rules`. `Err` says why the child cannot be confined (no
    /// Landlock, a listed path that does not exist); the caller then does not start it.
    pub(crate) fn prepare(rules: &SandboxRules) -> Result<Self, String> {
        let Some(version) = kernel_abi() else {
            return Err("the kernel has no Landlock (it needs Linux 5.13 with landlock in the lsm= boot list), so the sandbox cannot confine the child; set sandbox = \"off\" for this executor only if you accept running it with prgate's own reach".into());
        };
        let abi = ABI::from(version);
        let fail = |e: landlock::RulesetError| format!("cannot build the Landlock sandbox: {e}");
        let mut ruleset = Ruleset::default()
            .set_compatibility(CompatLevel::HardRequirement)
            .handle_access(AccessFs::from_all(abi))
            .map_err(fail)?;
        if !rules.network {
            if version < 4 {
                return Err(format!(
                    "the kernel's Landlock ABI {version} cannot restrict TCP (ABI 4, Linux 6.7, is needed), so a plan without network cannot be confined; set plan_network = true or run on a newer kernel"
                ));
            }
            ruleset = ruleset
                .handle_access(AccessNet::ConnectTcp | AccessNet::BindTcp)
                .map_err(fail)?;
        }
        if version >= 6 {
            // No signals to processes outside the sandbox (the gate among them), no abstract
            // UNIX sockets made outside it.
            ruleset = ruleset.scope(Scope::from_all(abi)).map_err(fail)?;
        }
        let mut created = ruleset.create().map_err(fail)?;
        let read = AccessFs::from_read(abi);
        let all = AccessFs::from_all(abi);
        for path in SYSTEM_READ {
            created = add_path(created, Path::new(path), read, false)?;
        }
        for path in SYSTEM_READ_WRITE {
            created = add_path(created, Path::new(path), all, false)?;
        }
        for path in &rules.read_only {
            created = add_path(created, path, read, true)
                .map_err(|e| format!("cannot allow reading {}: {e}", path.display()))?;
        }
        for path in &rules.read_write {
            created = add_path(created, path, all, true)
                .map_err(|e| format!("cannot allow writing {}: {e}", path.display()))?;
        }
        let fd: Option<OwnedFd> = created.into();
        let fd = fd.ok_or("the kernel did not create a Landlock ruleset")?;
        Ok(Confinement { fd })
    }

    /// The ruleset's descriptor, for [`enter`] in the child.
    pub(crate) fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Adds a rule for `path` (only the rights that apply to a file when it is one). A missing
/// system path is skipped; a missing path the operator or prgate named is an error.
fn add_path(
    created: landlock::RulesetCreated,
    path: &Path,
    access: landlock::BitFlags<AccessFs>,
    required: bool,
) -> Result<landlock::RulesetCreated, String> {
    let fd = match PathFd::new(path) {
        Ok(fd) => fd,
        Err(e) if required => return Err(e.to_string()),
        Err(_) => return Ok(created),
    };
    let access = if path.is_dir() {
        access
    } else {
        access & AccessFs::from_file(ABI::V10)
    };
    created
        .add_rule(PathBeneath::new(fd, access))
        .map_err(|e| e.to_string())
}

/// Confines the calling process with the ruleset `fd`: `no_new_privs`, then Landlock. Called
/// in the child between fork and exec, so it only makes system calls (no allocation, no lock).
pub(crate) fn enter(fd: RawFd) -> std::io::Result<()> {
    // SAFETY: prctl and landlock_restrict_self take plain integers and touch no memory of
    // ours; both are async-signal-safe system calls, allowed between fork and exec.
    unsafe {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if libc::syscall(libc::SYS_landlock_restrict_self, fd, 0u32) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Makes this process not dumpable, so that no process of the same user (a child that
/// escaped the sandbox, a plan with `sandbox = "off"`) can read its environment, memory or
/// file descriptors through `/proc/<pid>` or attach a debugger to it.
pub fn forbid_dumps() -> std::io::Result<()> {
    // SAFETY: prctl(PR_SET_DUMPABLE, 0) changes a flag of this process; no memory is passed.
    if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_folder_the_operator_named_is_an_error() {
        if kernel_abi().is_none() {
            return;
        }
        let rules = SandboxRules {
            read_write: vec![PathBuf::from("/nonexistent/prgate-sandbox")],
            read_only: vec![],
            network: true,
        };
        let err = Confinement::prepare(&rules).unwrap_err();
        assert!(err.contains("/nonexistent/prgate-sandbox"), "{err}");
    }

    #[test]
    fn the_report_names_the_abi() {
        let line = report();
        match kernel_abi() {
            Some(abi) => assert!(line.contains(&format!("ABI {abi}")), "{line}"),
            None => assert!(line.contains("not available"), "{line}"),
        }
    }
}
