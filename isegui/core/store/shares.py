"""Is a folder on a network share? SQLite's write-ahead log needs every process on one host
(its shared memory file cannot be shared over SMB or NFS), so projects on a share use a
rollback journal instead, and the app says what else is not safe there."""

from __future__ import annotations

import os
import sys
from pathlib import Path, PureWindowsPath

# file systems whose files other hosts write too (Linux /proc/mounts names)
NETWORK_FILESYSTEMS = frozenset({
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "afs", "ceph", "glusterfs", "lustre", "gpfs",
    "beegfs", "davfs", "fuse.sshfs", "fuse.s3fs", "fuse.rclone", "fuse.glusterfs", "ncpfs",
    "coda", "ocfs2", "gfs2"})
DRIVE_REMOTE = 4  # GetDriveTypeW's answer for a mapped network drive


def is_network_path(folder: str | Path, *, mounts: str | None = None,
                    platform: str = sys.platform) -> bool:
    """True when `folder` lies on a network file system: a UNC path or mapped network drive
    on Windows, an NFS/SMB/... mount on Linux (`mounts`: /proc/mounts' text, for tests).
    Unknown (other systems, unreadable mount table) counts as local."""
    if platform == "win32":
        return _windows_network(str(folder))
    if platform.startswith("linux"):
        if mounts is None:
            try:
                with open("/proc/mounts", encoding="utf-8", errors="replace") as f:
                    mounts = f.read()
            except OSError:
                return False
        return _mount_type(os.path.abspath(folder), mounts) in NETWORK_FILESYSTEMS
    return False


def _windows_network(folder: str) -> bool:
    path = PureWindowsPath(folder)
    if path.drive.startswith("\\\\"):  # \\server\share (and \\?\UNC\server\share)
        return not path.drive.startswith("\\\\?\\") or path.drive.upper().startswith(
            "\\\\?\\UNC")
    if not path.drive or sys.platform != "win32":
        return False
    import ctypes  # pragma: no cover - Windows only
    return bool(ctypes.windll.kernel32.GetDriveTypeW(f"{path.drive}\\") == DRIVE_REMOTE)


def _mount_type(path: str, mounts: str) -> str:
    """The file system type of the longest mount point that holds `path`."""
    best, kind = "", ""
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        point = fields[1].replace("\\040", " ")  # /proc/mounts escapes spaces
        inside = path == point or path.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, kind = point, fields[2]
    return kind
