//! Test-only code that stands in for a kubelet: who may use a volume's files once the container
//! runs as a non-root user.
//!
//! Like the kubelet: an emptyDir is created `0777`, a PersistentVolumeClaim's new host directory
//! too (like a local-path provisioner's); secret, configMap, downwardAPI and projected files get
//! their `defaultMode`/`mode` (owned by root). With the pod's `fsGroup`, every file and directory
//! of a volume (not of a hostPath) is given that group and group read (and write, unless the
//! volume is read-only) permission, directories also group search and setgid — the kubelet's
//! `SetVolumeOwnership`.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Creates `dir` (and parents) if missing, and gives `dir` itself `mode` (not masked by umask).
pub fn create_dir_with_mode(dir: &Path, mode: u32) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
}

/// The kubelet's `SetVolumeOwnership`: group `fs_group` and group permissions on everything under
/// `dir` (symlinks are not followed).
pub fn set_volume_ownership(dir: &Path, fs_group: u32, read_only: bool) -> io::Result<()> {
    let meta = std::fs::symlink_metadata(dir)?;
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    std::os::unix::fs::lchown(dir, None, Some(fs_group))?;
    let mut mask = if read_only { 0o440 } else { 0o660 };
    if meta.is_dir() {
        mask |= 0o110 | 0o2000;
    }
    std::fs::set_permissions(
        dir,
        std::fs::Permissions::from_mode((meta.permissions().mode() & 0o7777) | mask),
    )?;
    if meta.is_dir() {
        for entry in std::fs::read_dir(dir)? {
            set_volume_ownership(&entry?.path(), fs_group, read_only)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn fs_group_gets_group_access() -> io::Result<()> {
        let dir = std::env::temp_dir().join(format!("harness-ownership-test-{}", std::process::id()));
        create_dir_with_mode(&dir.join("sub"), 0o700)?;
        std::fs::write(dir.join("sub/secret"), b"x")?;
        std::fs::set_permissions(dir.join("sub/secret"), std::fs::Permissions::from_mode(0o400))?;
        set_volume_ownership(&dir, 4242, true)?;
        let file = std::fs::metadata(dir.join("sub/secret"))?;
        assert_eq!(file.gid(), 4242);
        assert_eq!(file.mode() & 0o7777, 0o440);
        let sub = std::fs::metadata(dir.join("sub"))?;
        assert_eq!(sub.mode() & 0o7777, 0o2750);
        set_volume_ownership(&dir, 4242, false)?;
        assert_eq!(std::fs::metadata(dir.join("sub/secret"))?.mode() & 0o7777, 0o660);
        std::fs::remove_dir_all(&dir)
    }
}
