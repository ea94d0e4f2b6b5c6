#!/usr/bin/env python3
"""Fails when docs/architecture.md's dependency graph differs from CMake's link lines.

Usage: dependency_graph.py SOURCE_DIR WORK_DIR [CMAKE]
Configures SOURCE_DIR into WORK_DIR (without tests) with `cmake --graphviz` and compares the
direct edges between ckms's libraries with the ```dependency-graph block of the document.
"""
import pathlib
import re
import subprocess
import sys

# CMake target -> the folder (library) the document names it by.
TARGETS = {
    "ckms_base": "base", "ckms_oci": "oci", "ckms_kmod": "kmod", "ckms_artifact": "artifact",
    "ckms_images": "images", "ckms_builder": "builder", "ckms_loader": "loader",
    "ckms_operator_core": "operator", "ckms-full": "cli",
}


def documented(doc: pathlib.Path) -> set:
    block = re.search(r"```dependency-graph\n(.*?)```", doc.read_text(), re.S)
    if block is None:
        sys.exit(f"{doc}: no ```dependency-graph block")
    edges = set()
    for line in block.group(1).splitlines():
        if not line.strip():
            continue
        source, _, targets = line.partition("->")
        edges |= {(source.strip(), target) for target in targets.split()}
    return edges


def linked(source_dir: pathlib.Path, work: pathlib.Path, cmake: str) -> set:
    work.mkdir(parents=True, exist_ok=True)
    dot = work / "ckms.dot"
    subprocess.run([cmake, "-S", str(source_dir), "-B", str(work / "build"), "-G", "Ninja",
                    "-DCKMS_TESTS=OFF", f"--graphviz={dot}"],
                   check=True, stdout=subprocess.DEVNULL)
    text = dot.read_text()
    names = dict(re.findall(r'"(node\d+)" \[ label = "([^"]+)"', text))
    edges = set()
    for a, b in re.findall(r'"(node\d+)" -> "(node\d+)"', text):
        source, target = TARGETS.get(names[a]), TARGETS.get(names[b])
        if source and target:
            edges.add((source, target))
    return edges


def main() -> int:
    source_dir, work = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    cmake = sys.argv[3] if len(sys.argv) > 3 else "cmake"
    doc = source_dir / "docs/architecture.md"
    want, have = documented(doc), linked(source_dir, work, cmake)
    for source, target in sorted(have - want):
        print(f"{source} links {target}, which {doc.name} does not show")
    for source, target in sorted(want - have):
        print(f"{doc.name} shows {source} -> {target}, which no link line has")
    if want != have:
        return 1
    print(f"{len(have)} dependencies, as documented")
    return 0


if __name__ == "__main__":
    sys.exit(main())
