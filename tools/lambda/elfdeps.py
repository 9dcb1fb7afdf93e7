#!/usr/bin/env python3
"""What an ELF file needs from the system: its DT_NEEDED libraries and the symbol versions it requires
(.gnu.version_r), read with the standard library only (no objdump/readelf needed).

    python3 tools/lambda/elfdeps.py FILE...      prints machine, NEEDED, highest GLIBC_x.y per file

Used by tools/lambda/build-layers.sh (the ONNX Runtime library) and tools/checks/bazel (the bootstraps).
"""

from __future__ import annotations

import re
import struct
import sys
from dataclasses import dataclass, field

EM_X86_64 = 62
EM_AARCH64 = 183
MACHINES = {EM_X86_64: "x86_64", EM_AARCH64: "arm64"}

SHT_DYNAMIC = 6
SHT_GNU_VERNEED = 0x6FFFFFFE
DT_NULL = 0
DT_NEEDED = 1

# What Amazon Linux 2023 (provided.al2023) has in /lib64 for every function: glibc's libraries, the
# dynamic loader, and GCC's runtime libraries.
AL2023_LIBRARIES = re.compile(
    r"^(libc|libm|libdl|libpthread|librt|libutil|libresolv)\.so\.\d+$"
    r"|^ld-linux(-x86-64|-aarch64)\.so\.\d+$"
    r"|^libgcc_s\.so\.1$|^libstdc\+\+\.so\.6$"
)
AL2023_GLIBC = (2, 34)
# Amazon Linux 2023's libstdc++ is GCC 11's: GLIBCXX_3.4.29 and CXXABI_1.3.13 at most.
AL2023_GLIBCXX = (3, 4, 29)
AL2023_CXXABI = (1, 3, 13)

_GLIBC = re.compile(r"^GLIBC_(\d+)\.(\d+)(?:\.(\d+))?$")
_VERSIONED = re.compile(r"^(GLIBCXX|CXXABI)_(\d+(?:\.\d+)*)$")


class ElfError(ValueError):
    pass


@dataclass
class ElfDeps:
    machine: str
    needed: list[str] = field(default_factory=list)
    # version name -> the library it is required from, e.g. "GLIBC_2.34" -> "libc.so.6"
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def glibc_versions(self) -> list[tuple[int, ...]]:
        out = []
        for name in self.versions:
            m = _GLIBC.match(name)
            if m:
                out.append(tuple(int(g) for g in m.groups() if g is not None))
        return sorted(out)

    def max_version(self, prefix: str) -> tuple[int, ...] | None:
        """Highest GLIBCXX_x.y.z / CXXABI_x.y.z required (prefix "GLIBCXX" or "CXXABI")."""
        found = []
        for name in self.versions:
            m = _VERSIONED.match(name)
            if m and m.group(1) == prefix:
                found.append(tuple(int(x) for x in m.group(2).split(".")))
        return max(found) if found else None

    @property
    def max_glibc(self) -> tuple[int, ...] | None:
        versions = self.glibc_versions
        return versions[-1] if versions else None


def _cstr(data: bytes, offset: int) -> str:
    end = data.index(b"\0", offset)
    return data[offset:end].decode("ascii", "replace")


def parse(data: bytes) -> ElfDeps:
    if data[:4] != b"\x7fELF":
        raise ElfError("not an ELF file")
    if data[4] != 2:
        raise ElfError("not a 64-bit ELF file")
    endian = {1: "<", 2: ">"}.get(data[5])
    if endian is None:
        raise ElfError("unknown ELF byte order")
    e_machine = struct.unpack_from(endian + "H", data, 18)[0]
    e_shoff = struct.unpack_from(endian + "Q", data, 40)[0]
    e_shentsize, e_shnum = struct.unpack_from(endian + "HH", data, 58)
    if e_shoff == 0 or e_shnum == 0:
        raise ElfError("no section headers")
    sections = []
    for i in range(e_shnum):
        off = e_shoff + i * e_shentsize
        (_name, sh_type, _flags, _addr, sh_offset, sh_size, sh_link, sh_info, _align, sh_entsize) = struct.unpack_from(
            endian + "IIQQQQIIQQ", data, off
        )
        sections.append((sh_type, sh_offset, sh_size, sh_link, sh_info, sh_entsize))

    def strtab(index: int) -> bytes:
        _, off, size, *_ = sections[index]
        return data[off : off + size]

    deps = ElfDeps(machine=MACHINES.get(e_machine, f"EM_{e_machine}"))
    for sh_type, off, size, link, info, entsize in sections:
        if sh_type == SHT_DYNAMIC:
            strings = strtab(link)
            for pos in range(off, off + size, entsize or 16):
                tag, val = struct.unpack_from(endian + "qQ", data, pos)
                if tag == DT_NULL:
                    break
                if tag == DT_NEEDED:
                    deps.needed.append(_cstr(strings, val))
        elif sh_type == SHT_GNU_VERNEED:
            strings = strtab(link)
            pos = off
            for _ in range(info):  # sh_info: the number of Verneed entries
                _vn_version, vn_cnt, vn_file, vn_aux, vn_next = struct.unpack_from(endian + "HHIII", data, pos)
                library = _cstr(strings, vn_file)
                aux = pos + vn_aux
                for _ in range(vn_cnt):
                    _hash, _flags, _other, vna_name, vna_next = struct.unpack_from(endian + "IHHII", data, aux)
                    deps.versions[_cstr(strings, vna_name)] = library
                    aux += vna_next
                if vn_next == 0:
                    break
                pos += vn_next
    return deps


def read(path: str) -> ElfDeps:
    with open(path, "rb") as f:
        return parse(f.read())


def fmt_version(v: tuple[int, ...] | None) -> str:
    return "none" if v is None else ".".join(str(x) for x in v)


def al2023_problems(deps: ElfDeps) -> list[str]:
    """Why this ELF would not load on Amazon Linux 2023 (empty when it would)."""
    problems = []
    foreign = [lib for lib in deps.needed if not AL2023_LIBRARIES.match(lib)]
    if foreign:
        problems.append(f"needs libraries Amazon Linux 2023 does not provide: {', '.join(foreign)}")
    top = deps.max_glibc
    if top is not None and top[:2] > AL2023_GLIBC:
        problems.append(f"requires GLIBC_{fmt_version(top)}, newer than Amazon Linux 2023's {fmt_version(AL2023_GLIBC)}")
    for prefix, limit in (("GLIBCXX", AL2023_GLIBCXX), ("CXXABI", AL2023_CXXABI)):
        top = deps.max_version(prefix)
        if top is not None and top > limit:
            problems.append(f"requires {prefix}_{fmt_version(top)}, newer than Amazon Linux 2023's {fmt_version(limit)}")
    return problems


def main(argv: list[str]) -> int:
    status = 0
    for path in argv:
        try:
            deps = read(path)
        except (OSError, ElfError) as e:
            print(f"{path}: {e}", file=sys.stderr)
            status = 1
            continue
        print(
            f"{path}: {deps.machine}, max GLIBC {fmt_version(deps.max_glibc)}, "
            f"GLIBCXX {fmt_version(deps.max_version('GLIBCXX'))}, NEEDED {' '.join(deps.needed)}"
        )
        for problem in al2023_problems(deps):
            print(f"{path}: {problem}", file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
