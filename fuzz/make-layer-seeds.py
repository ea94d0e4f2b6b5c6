#!/usr/bin/env python3
"""Writes the layer seeds in corpus/layer/: ordinary layers (tar, gzip, zstd) and hostile ones
that try to write outside the target. Rerun after changing it; the seeds are kept in git."""
import gzip
import io
import os
import subprocess
import sys
import tarfile

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "layer")


def entry(name, kind=tarfile.REGTYPE, data=b"", link="", mode=0o644):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.linkname = link
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    info.mtime = 1700000000
    return info, (data if kind == tarfile.REGTYPE else None)


def tar(entries, fmt=tarfile.PAX_FORMAT):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for info, data in entries:
            t.addfile(info, None if data is None else io.BytesIO(data))
    # Python pads to a 10 KiB record; the two zero blocks that end an archive are enough,
    # and smaller seeds mutate faster.
    content = buf.getvalue().rstrip(b"\0")
    return content.ljust((len(content) + 511) // 512 * 512 + 1024, b"\0")


ordinary = [
    entry("usr/", tarfile.DIRTYPE, mode=0o755),
    entry("usr/bin/", tarfile.DIRTYPE, mode=0o755),
    entry("usr/bin/tool", data=b"#!/bin/sh\necho hi\n", mode=0o755),
    entry("usr/bin/tool-link", tarfile.SYMTYPE, link="tool"),
    entry("usr/bin/tool-hard", tarfile.LNKTYPE, link="usr/bin/tool"),
    entry("etc/.wh.removed", data=b""),
    entry("opt/.wh..wh..opq", data=b""),
    entry("run/fifo", tarfile.FIFOTYPE),
    entry("dev/null", tarfile.CHRTYPE),
    entry("a" * 120 + "/" + "b" * 120, data=b"long name"),
]

hostile = {
    "dotdot.tar": [entry("../escape", data=b"x")],
    "dotdot-deep.tar": [entry("a/../../escape", data=b"x")],
    "absolute.tar": [entry("/escape", data=b"x")],
    "symlink-dir-escape.tar": [entry("link", tarfile.SYMTYPE, link="../.."),
                               entry("link/escape", data=b"x")],
    "symlink-absolute.tar": [entry("etc", tarfile.SYMTYPE, link="/tmp"),
                             entry("etc/escape", data=b"x")],
    "symlink-file-overwrite.tar": [entry("f", tarfile.SYMTYPE, link="../escape"),
                                   entry("f", data=b"x")],
    "hardlink-outside.tar": [entry("h", tarfile.LNKTYPE, link="../escape")],
    "hardlink-absolute.tar": [entry("h", tarfile.LNKTYPE, link="/etc/hostname")],
    "hardlink-through-symlink.tar": [entry("s", tarfile.SYMTYPE, link=".."),
                                     entry("h", tarfile.LNKTYPE, link="s/escape")],
    "whiteout-dotdot.tar": [entry("../.wh.jail", data=b"")],
    "dir-then-symlink.tar": [entry("d/", tarfile.DIRTYPE, mode=0o755),
                             entry("d", tarfile.SYMTYPE, link=".."),
                             entry("d/escape", data=b"x")],
}


def main():
    os.makedirs(OUT, exist_ok=True)
    files = {"ordinary.tar": tar(ordinary), "ordinary-gnu.tar": tar(ordinary, tarfile.GNU_FORMAT)}
    files["ordinary.tar.gz"] = gzip.compress(files["ordinary.tar"], mtime=0)
    files["ordinary.tar.zst"] = subprocess.run(["zstd", "-q", "-c"], input=files["ordinary.tar"],
                                               check=True, capture_output=True).stdout
    for name, entries in hostile.items():
        files[name] = tar(entries)
    for name, data in files.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
