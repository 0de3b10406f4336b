#!/usr/bin/env python3
"""Corrupted and synthetic ELF core files for testing libmeminspect's core
reader. Deterministic: the same arguments give the same files.

  corrupt.py run --memtool MT --core CORE --addr ADDR [--root ADDR]
                 [--seed N] [--random N] [--sample N] [--strict-utf8]
      Makes corrupted variants of CORE (truncations inside the headers,
      notes and segments; changed ELF header, program header, note header
      and NT_FILE fields; huge counts and offsets; random byte flips; with
      --root, the address of memapi_root in the core's process, broken
      libmemapi records) and runs `MT maps --core F`, `MT query ADDR --core
      F` and `MT maps --core F --json` on each. Every run must exit 0 or 1,
      by itself within 10 s, with a "memtool: " line on stderr when 1 and
      valid JSON when --json exits 0 (valid UTF-8 too with --strict-utf8).
      Prints "FAIL: ..." per broken run and a last line "variants N runs N
      failures N"; exits 1 on a failure.

  corrupt.py synth OUTDIR --symbols ELF
      Writes small synthetic cores (the fuzzer's seeds) to OUTDIR: a plain
      process, and processes using libmemapi (regions, a heap, a section
      view, a thunk block, an enclave) whose root is found through ELF, a
      file on disk that defines memapi_root (libmemapi.so.1); plus a torn
      copy, a looping region list and records pointing nowhere. Prints
      "PATH ROOT" per file (ROOT: memapi_root's address in it, or 0).

Layout constants are those of struct memapi_root and its records, layout 1
(core/include/memapi.h), and of the x86-64 Linux core notes."""
import argparse
import concurrent.futures
import json
import os
import random
import re
import struct
import subprocess
import sys
import tempfile

PT_LOAD, PT_NOTE = 1, 4
NT_PRSTATUS, NT_PRPSINFO, NT_AUXV, NT_FILE = 1, 3, 6, 0x46494c45
AT_PHDR = 3
PF_X, PF_W, PF_R = 1, 2, 4
EHDR, PHDR = 64, 56
U64 = (1 << 64) - 1

# ---------------------------------------------------------------- parsing


def u16(d, o): return struct.unpack_from("<H", d, o)[0]
def u32(d, o): return struct.unpack_from("<I", d, o)[0]
def u64(d, o): return struct.unpack_from("<Q", d, o)[0]


def phdrs(d):
    """(header offset, type, flags, offset, vaddr, filesz, memsz) of each."""
    phoff, phnum = u64(d, 32), u16(d, 56)
    out = []
    for i in range(phnum):
        o = phoff + i * PHDR
        if o + PHDR > len(d):
            break
        p_type, p_flags = struct.unpack_from("<II", d, o)
        p_offset, p_vaddr, _, p_filesz, p_memsz = struct.unpack_from("<QQQQQ", d, o + 8)
        out.append((o, p_type, p_flags, p_offset, p_vaddr, p_filesz, p_memsz))
    return out


def notes(d):
    """(header offset, namesz, descsz, type, name, desc offset) of each."""
    out = []
    for _, t, _, off, _, filesz, _ in phdrs(d):
        if t != PT_NOTE:
            continue
        o, end = off, min(off + filesz, len(d))
        while o + 12 <= end:
            namesz, descsz, ntype = struct.unpack_from("<III", d, o)
            name_off = o + 12
            desc_off = name_off + (namesz + 3) // 4 * 4
            out.append((o, namesz, descsz, ntype, d[name_off:name_off + namesz], desc_off))
            o = desc_off + (descsz + 3) // 4 * 4
    return out


def vaddr_to_offset(d, addr, size=1):
    for _, t, _, off, va, filesz, _ in phdrs(d):
        if t == PT_LOAD and va <= addr and addr + size <= va + filesz:
            return off + (addr - va)
    return None

# ---------------------------------------------------------------- variants
# A variant is (description, length to keep or None, [(offset, bytes)]):
# cheap to list, made only when it runs.


def put(off, fmt, v):
    return [(off, struct.pack(fmt, v & ((1 << (8 * struct.calcsize(fmt))) - 1)))]


def change(desc, off, fmt, v):
    return desc, None, put(off, fmt, v)


def truncations(d, rng):
    cuts = {0, 1, 4, 5, 16, 17, 24, 32, 52, 58, 63}
    ph = phdrs(d)
    for o, *_ in ph[:2] + ph[-1:]:
        cuts |= {o, o + 1, o + 31, o + PHDR - 1}
    for o, namesz, descsz, ntype, _, desc_off in notes(d)[:8]:
        cuts |= {o + 4, o + 12, desc_off + 1}
        if ntype == NT_FILE:
            cuts |= {desc_off + 8, desc_off + 16, desc_off + 40, desc_off + descsz // 2,
                     desc_off + descsz - 1}
    loads = [p for p in ph if p[1] == PT_LOAD and p[5]]
    for _, _, _, off, _, filesz, _ in loads[:2] + loads[-1:] + rng.sample(loads, min(4, len(loads))):
        cuts |= {off, off + 1, off + filesz // 2}
    cuts |= {rng.randrange(len(d)) for _ in range(8)}
    cuts |= {len(d) - 1}
    for c in sorted(x for x in cuts if 0 <= x < len(d)):
        yield "truncated at %d" % c, c, []


def ehdr_changes(d):
    size = len(d)
    fields = [
        (4, "<B", [0, 1, 3]), (5, "<B", [0, 2]), (6, "<B", [0, 9]), (16, "<H", [1, 3, 0xffff]),
        (18, "<H", [0, 0xffff]), (32, "<Q", [0, 1, 63, size - 1, U64, 1 << 62]),
        (40, "<Q", [1, U64]), (52, "<H", [0, 0xffff]), (54, "<H", [0, 1, 55, 57, 0xffff]),
        (56, "<H", [0, 1, 0xffff, 0xfffe, u16(d, 56) + 1]), (58, "<H", [0, 0xffff]),
        (60, "<H", [0xffff]), (62, "<H", [0xffff]),
    ]
    for off, fmt, values in fields:
        for v in values:
            yield change("ELF header +%d = %#x" % (off, v & U64), off, fmt, v)
    yield "PN_XNUM without sections", None, put(56, "<H", 0xffff) + put(40, "<Q", 0)


def phdr_changes(d, rng):
    ph = phdrs(d)
    size = len(d)
    loads = [p for p in ph if p[1] == PT_LOAD]
    chosen = [p for p in ph if p[1] == PT_NOTE] + loads[:1] + loads[-1:] + rng.sample(loads, min(3, len(loads)))
    seen = set()
    for o, t, fl, off, va, filesz, memsz in chosen:
        if o in seen:
            continue
        seen.add(o)
        for field, fmt, values in [
            (0, "<I", [PT_LOAD if t == PT_NOTE else PT_NOTE, 0x6474e551]),
            (4, "<I", [0]),
            (8, "<Q", [size, U64, off + 1]),
            (16, "<Q", [0, (1 << 64) - 4096, va + 1, 0xffffffffff600000]),
            (32, "<Q", [0, memsz + 1, U64, 1 << 40]),
            (40, "<Q", [0, U64, (1 << 64) - va if va else 1, memsz + 4096]),
        ]:
            for v in values:
                yield change("phdr at %d +%d = %#x" % (o, field, v & U64), o + field, fmt, v)


def note_changes(d):
    size = len(d)
    for o, namesz, descsz, ntype, name, desc_off in notes(d):
        interesting = ntype in (NT_FILE, NT_PRSTATUS, NT_AUXV, NT_PRPSINFO)
        for v in [0, 6, 0xffffffff] + ([4, size] if interesting else []):
            yield change("note at %d namesz = %#x" % (o, v), o, "<I", v)
        for v in [0, descsz + 1, 0xffffffff] + ([descsz - 1, descsz + 4096, 0x7fffffff] if interesting else []):
            yield change("note at %d descsz = %#x" % (o, v & 0xffffffff), o + 4, "<I", v)
        for v in [NT_FILE, NT_PRSTATUS, NT_AUXV, NT_PRPSINFO] if interesting else [NT_FILE]:
            if v != ntype:
                yield change("note at %d type = %#x" % (o, v), o + 8, "<I", v)
        if name == b"CORE\0" and interesting:
            yield "note at %d name CORX" % o, None, [(o + 12, b"CORX")]
        if ntype == NT_FILE:
            yield from nt_file_changes(d, desc_off, descsz)
        if ntype == NT_AUXV:
            for i in range(0, descsz - 15, 16):
                if u64(d, desc_off + i) == AT_PHDR:
                    for v in [0, U64, 0xffffffffff600000]:
                        yield change("AT_PHDR = %#x" % v, desc_off + i + 8, "<Q", v)
        if ntype == NT_PRSTATUS:
            for v in [0, U64, 0xffffffffff600000]:
                yield change("prstatus rsp = %#x" % v, desc_off + 112 + 19 * 8, "<Q", v)


def nt_file_changes(d, at, size):
    count, page = u64(d, at), u64(d, at + 8)
    for v in [0, 1, count - 1, count + 1, (size - 16) // 24, (size - 16) // 24 + 1, U64, 1 << 63,
              U64 // 24 + 1]:
        yield change("NT_FILE count = %#x" % (v & U64), at, "<Q", v)
    for v in [0, 1, 3, 1 << 63, U64, 1 << 32]:
        yield change("NT_FILE page size = %#x" % (v & U64), at + 8, "<Q", v)
    for i in sorted({0, count // 2, count - 1}):
        if i >= count:
            continue
        e = at + 16 + 24 * i
        start, end = u64(d, e), u64(d, e + 8)
        yield change("NT_FILE entry %d start > end" % i, e, "<Q", end + 1)
        yield change("NT_FILE entry %d end = max" % i, e + 8, "<Q", U64)
        yield change("NT_FILE entry %d start = 0" % i, e, "<Q", 0)
        for v in [U64, U64 // max(page, 1) + 1]:
            yield change("NT_FILE entry %d offset = %#x" % (i, v), e + 16, "<Q", v)
    names = at + 16 + 24 * count
    if 0 < count <= (size - 16) // 24 and names < at + size:
        tail = d[names:at + size]
        yield "NT_FILE names without terminators", None, [(names, tail.replace(b"\0", b"A"))]
        yield "NT_FILE names empty", None, [(names, bytes(len(tail)))]
        cut = tail.find(b"\0")
        if cut > 0:
            yield "NT_FILE first name is a missing file", None, [(names, b"/" + b"x" * (cut - 1))]


def root_changes(d, root, rng):
    """libmemapi's records in the core: magic, layout, counts, pointers."""
    o = vaddr_to_offset(d, root, 176)
    if o is None:
        return
    for field, fmt, values in [
        (0, "<Q", [0]), (8, "<I", [0, 2]), (12, "<I", [0, 8]), (16, "<Q", [3, U64]),
        (24, "<Q", [0, 3, U64]), (32, "<Q", [0, 3, U64]), (48, "<Q", [0, 1, U64]),
        (56, "<Q", [1, root, U64 - 7, 0x7ffffffff000]), (64, "<Q", [1, root, U64 - 7]),
        (72, "<Q", [1, root, U64 - 7]), (88, "<Q", [1, root]), (96, "<Q", [1, root]),
    ]:
        for v in values:
            yield change("memapi_root +%d = %#x" % (field, v & U64), o + field, fmt, v)
    # The region records: follow the list in the core and break some.
    at, n = u64(d, o + 56), 0
    while at and n < 64:
        r = vaddr_to_offset(d, at, 64)
        if r is None:
            break
        if n < 2 or rng.random() < 0.1:
            for field, values in [(0, [1, U64 - 4095]), (8, [0, U64]), (32, [1 << 24, U64]),
                                  (40, [0, U64 - 7]), (56, [at, U64 - 63])]:
                for v in values:
                    yield change("region %d (%#x) +%d = %#x" % (n, at, field, v), r + field, "<Q", v)
            runs, count = u64(d, r + 40), u64(d, r + 32)
            ro = vaddr_to_offset(d, runs, 24) if count else None
            if ro is not None:
                for field, fmt, values in [(0, "<Q", [U64]), (8, "<Q", [0, U64]),
                                           (16, "<I", [0, 0x10000]), (20, "<I", [0xffffffff])]:
                    for v in values:
                        yield change("region %d run 0 +%d = %#x" % (n, field, v), ro + field, fmt, v)
        at, n = u64(d, r + 56), n + 1


def flips(d, rng, count):
    notes_end = max([off + filesz for _, t, _, off, _, filesz, _ in phdrs(d) if t == PT_NOTE] or [EHDR])
    hot = min(notes_end, len(d))
    for k in range(count):
        span = hot if k % 3 else len(d)
        patches = []
        for _ in range(rng.randrange(1, 17)):
            at = rng.randrange(span)
            patches.append((at, bytes([d[at] ^ (1 << rng.randrange(8))])))
        yield "random flips #%d" % k, None, patches


def variants(d, seed, nrandom, root):
    rng = random.Random(seed)
    yield from truncations(d, rng)
    yield from ehdr_changes(d)
    yield from phdr_changes(d, rng)
    yield from note_changes(d)
    if root:
        yield from root_changes(d, root, rng)
    yield from flips(d, rng, nrandom)

# ---------------------------------------------------------------- running


def check(memtool, path, addr, desc, strict_utf8):
    fails = []
    env = dict(os.environ)
    # A sanitizer report must not pass for an ordinary exit 1.
    env["ASAN_OPTIONS"] = "exitcode=86:" + env.get("ASAN_OPTIONS", "")
    env["UBSAN_OPTIONS"] = "halt_on_error=1:exitcode=87:" + env.get("UBSAN_OPTIONS", "")
    for args in (["maps", "--core", path], ["query", addr, "--core", path],
                 ["maps", "--core", path, "--json"]):
        what = "%s: memtool %s" % (desc, " ".join(a if a != path else "F" for a in args))
        try:
            p = subprocess.run([memtool] + args, capture_output=True, timeout=10, env=env)
        except subprocess.TimeoutExpired:
            fails.append("%s: no exit within 10 s" % what)
            continue
        err = p.stderr.decode("utf-8", "replace")
        if p.returncode < 0:
            fails.append("%s: killed by signal %d" % (what, -p.returncode))
        elif p.returncode not in (0, 1):
            fails.append("%s: exit %d (%s)" % (what, p.returncode, err[:300].strip()))
        elif p.returncode == 1 and not re.search(r"^memtool: \S", err, re.M):
            fails.append("%s: exit 1 without a 'memtool: ' message (%s)" % (what, err[:300].strip()))
        elif p.returncode == 0 and "--json" in args:
            try:
                json.loads(p.stdout.decode("utf-8", "strict" if strict_utf8 else "surrogateescape"))
            except ValueError as ex:
                fails.append("%s: invalid JSON (%s)" % (what, ex))
    return fails


def make_variant(src, path, size, cut, patches):
    with open(src, "rb") as f, open(path, "wb") as g:
        n = size if cut is None else cut
        while n > 0:
            k = os.copy_file_range(f.fileno(), g.fileno(), n)
            if k <= 0:
                raise OSError("copy_file_range: short copy")
            n -= k
        for off, b in patches:
            if off + len(b) <= g.tell():
                g.seek(off)
                g.write(b)


def run(args):
    size = os.path.getsize(args.core)
    if size > 64 << 20:
        print("FAIL: %s is too large to corrupt (%d bytes)" % (args.core, size))
        return 1
    d = open(args.core, "rb").read()
    root = int(args.root, 16) if args.root else 0
    jobs = list(variants(d, args.seed, args.random, root))[::args.sample]
    work = tempfile.mkdtemp(prefix="corrupt.")

    def one(i):
        name, cut, patches = jobs[i]
        path = os.path.join(work, "v%04d.core" % i)
        make_variant(args.core, path, size, cut, patches)
        try:
            return check(args.memtool, path, args.addr, "variant %d (%s)" % (i, name),
                         args.strict_utf8)
        finally:
            os.unlink(path)

    try:
        with concurrent.futures.ThreadPoolExecutor(min(4, os.cpu_count() or 1)) as ex:
            results = list(ex.map(one, range(len(jobs))))
    finally:
        for f in os.listdir(work):
            os.unlink(os.path.join(work, f))
        os.rmdir(work)
    failures = [f for r in results for f in r]
    for f in failures[:40]:
        print("FAIL: " + f)
    print("variants %d runs %d failures %d" % (len(jobs), 3 * len(jobs), len(failures)))
    return 1 if failures else 0

# ---------------------------------------------------------------- synthesis


def elf_symbol(path, name):
    """Value of a defined symbol of an ELF file (.symtab, else .dynsym)."""
    d = open(path, "rb").read()
    shoff, shentsize, shnum = u64(d, 40), u16(d, 58), u16(d, 60)
    secs = [struct.unpack_from("<IIQQQQIIQQ", d, shoff + i * shentsize) for i in range(shnum)]
    for want in (2, 11):                                # SHT_SYMTAB, SHT_DYNSYM
        for s in secs:
            if s[1] != want:
                continue
            strtab = secs[s[6]]
            for i in range(s[5] // 24):
                st_name, _, _, shndx, value, _ = struct.unpack_from("<IBBHQQ", d, s[4] + i * 24)
                end = d.index(b"\0", strtab[4] + st_name)
                if shndx and d[strtab[4] + st_name:end] == name.encode():
                    return value
    raise SystemExit("corrupt.py: %s does not define %s" % (path, name))


def elf_base(path):
    """Link address of the first PT_LOAD, page aligned (0 for a PIE or .so)."""
    d = open(path, "rb").read()
    for _, t, _, off, va, _, _ in phdrs(d):
        if t == PT_LOAD:
            return (va - (off & ~0xfff)) & ~0xfff
    return 0


class Core:
    """A core file under construction: PT_LOADs, NT_FILE entries, notes."""

    def __init__(self):
        self.loads, self.files, self.notes = [], [], []
        self.mem = {}                                   # page address -> bytearray
        self.root = 0

    def load(self, va, size, flags, data=True):
        self.loads.append((va, size, flags, data))

    def file(self, start, end, pgoff, path):
        self.files.append((start, end, pgoff, path))

    def write(self, addr, b):
        for i, byte in enumerate(b):
            a = addr + i
            self.mem.setdefault(a & ~0xfff, bytearray(4096))[a & 0xfff] = byte

    def q(self, addr, *vals):
        self.write(addr, struct.pack("<%dQ" % len(vals), *vals))

    def note(self, ntype, desc):
        self.notes.append((ntype, desc))

    def build(self):
        nt = struct.pack("<QQ", len(self.files), 4096)
        nt += b"".join(struct.pack("<QQQ", s, e, o) for s, e, o, _ in self.files)
        nt += b"".join(p.encode() + b"\0" for *_, p in self.files)
        blob = b""
        for ntype, desc in self.notes + [(NT_FILE, nt)]:
            blob += struct.pack("<III", 5, len(desc), ntype) + b"CORE\0\0\0\0"
            blob += desc + b"\0" * (-len(desc) % 4)
        nph = 1 + len(self.loads)
        at = EHDR + nph * PHDR
        out = bytearray(struct.pack("<4sBBBB8xHHIQQQIHHHHHH", b"\x7fELF", 2, 1, 1, 0, 4, 62, 1,
                                    0, EHDR, 0, 0, EHDR, PHDR, nph, 64, 0, 0))
        out += struct.pack("<IIQQQQQQ", PT_NOTE, 0, at, 0, 0, len(blob), 0, 4)
        data_at = at + len(blob)
        body = b""
        for va, size, flags, data in self.loads:
            filesz = size if data else 0
            out += struct.pack("<IIQQQQQQ", PT_LOAD, flags, data_at + len(body), va, 0, filesz, size, 1)
            if data:
                body += b"".join(bytes(self.mem.get(p, bytes(4096))) for p in range(va, va + size, 4096))
        return bytes(out) + blob + body


def prstatus(pid, sp):
    b = bytearray(336)
    struct.pack_into("<i", b, 32, pid)
    struct.pack_into("<Q", b, 112 + 19 * 8, sp)
    return bytes(b)


def prpsinfo(name):
    b = bytearray(136)
    b[40:40 + len(name)] = name.encode()[:16]
    return bytes(b)


EXE, LIB, REC, STACK = 0x555555554000, 0x7f1000000000, 0x600000000000, 0x7ffc00000000
R1, R2, R3, R4, R5 = (0x7f0000000000 + i * 0x10000 for i in range(5))
MEM_COMMIT, MEM_RESERVE, MEM_PRIVATE, MEM_MAPPED = 0x1000, 0x2000, 0x20000, 0x40000
RW, RO, XR, GUARD = 0x04, 0x02, 0x20, 0x100


def base_core(pid, exe):
    c = Core()
    c.file(EXE, EXE + 0x2000, 0, exe)
    c.load(EXE, 0x1000, PF_R, data=False)               # bytes "in the file"
    c.load(EXE + 0x1000, 0x1000, PF_R | PF_W)
    c.load(STACK, 0x2000, PF_R | PF_W)
    c.load(0xffffffffff600000, 0x1000, PF_R | PF_X)
    c.write(STACK + 0x1800, b"stack bytes")
    c.note(NT_PRSTATUS, prstatus(pid, STACK + 0x1800))
    c.note(NT_PRPSINFO, prpsinfo(os.path.basename(exe)))
    c.note(NT_AUXV, struct.pack("<QQQQ", AT_PHDR, EXE + 0x40, 0, 0))
    return c


def memapi_core(symbols, generation=2, loop=False, wild=False, loop_list=None, long_name=False,
                region_count=None):
    symbols = os.path.abspath(symbols)
    c = base_core(4243, "/nonexistent/bin/app")
    lib_base, root = LIB, LIB + elf_symbol(symbols, "memapi_root") - elf_base(symbols)
    rpage = root & ~0xfff
    c.file(lib_base, lib_base + 0x1000, 0, symbols)
    c.load(lib_base, 0x1000, PF_R, data=False)
    c.file(rpage, rpage + 0x2000, rpage - lib_base, symbols)
    c.load(rpage, 0x2000 if (root & 0xfff) + 176 > 0x1000 else 0x1000, PF_R | PF_W)
    c.note(NT_PRSTATUS, prstatus(4244, R1 + 0x800))     # a second thread
    # Regions: (base, size, type, flags, owner, runs [(first, count, state, protect)])
    regions = [
        (R1, 0x10000, MEM_PRIVATE, 0, 0, [(0, 2, MEM_COMMIT, RW), (2, 1, MEM_COMMIT, RW | GUARD),
                                          (3, 13, MEM_RESERVE, 0)]),
        (R2, 0x10000, MEM_PRIVATE, 0, 1, [(0, 4, MEM_COMMIT, RW), (4, 12, MEM_RESERVE, 0)]),
        (R3, 0x2000, MEM_MAPPED, 0, 2, [(0, 2, MEM_COMMIT, RW)]),
        (R4, 0x2000, MEM_PRIVATE, 0, 4, [(0, 1, MEM_COMMIT, XR), (1, 1, MEM_COMMIT, RO)]),
        (R5, 0x10000, MEM_PRIVATE, 0, 5, [(0, 16, MEM_RESERVE, 0)]),
    ]
    c.load(R1, 0x3000, PF_R | PF_W)
    c.load(R1 + 0x3000, 0xd000, 0, data=False)
    c.load(R2, 0x4000, PF_R | PF_W)
    c.load(R2 + 0x4000, 0xc000, 0, data=False)
    c.file(R3, R3 + 0x2000, 0, "/dev/shm/memapi-fuzz")
    c.load(R3, 0x2000, PF_R | PF_W)
    c.load(R3 + 0x2000, 0xe000, 0, data=False)
    c.load(R4, 0x1000, PF_R | PF_X)
    c.load(R4 + 0x1000, 0x1000, PF_R)
    c.load(REC, 0x2000, PF_R | PF_W)
    c.write(R1, b"region one bytes")
    rec, runs = REC, REC + 0x400
    for i, (base, size, rtype, flags, owner, rl) in enumerate(regions):
        nxt = rec + 64 if i + 1 < len(regions) else 0
        if loop and i == 2:
            nxt = REC
        c.write(rec, struct.pack("<QQIIIIQQQQ", base, size, RW, rtype, flags, owner, len(rl),
                                 0x7fff0000 if wild and i == 1 else runs, 0, nxt))
        for first, count, state, prot in rl:
            c.write(runs, struct.pack("<QQII", first, count, state, prot))
            runs += 24
        rec += 64
    heap = R2
    sec, view, name = REC + 0x800, REC + 0x880, REC + (0x1000 if long_name else 0x900)
    thunk, encl = REC + 0xa00, REC + 0xb00
    # loop_list: that list's last record points back at itself.
    c.write(heap, struct.pack("<QIIQQQIIQQQQQ", 0x31504145484d454d, 1, 0, 0x1111, 0x2222, 0, 0, 1,
                              2, 0, 0, 0, heap if loop_list == "heap" else 0))
    c.write(sec, struct.pack("<QIIQIIQQQQQ", 0x31544345534d454d, 1, 2, 0x2000, RW, 0x8000000, 1,
                             view, name, 0, sec if loop_list == "section" else 0))
    c.write(view, struct.pack("<QQQIIQQ", R3, 0x2000, 0, RW, 0, sec, 0))
    c.write(name, b"n" * 4096 if long_name else b"Local\\fuzz-section\0")    # no NUL: cut
    c.write(thunk, struct.pack("<QIIQQQQQQQ", 0x314b4e48544d454d, 1, 256, R4, R4 + 0x1000, 1, 0, 0, 0,
                               thunk if loop_list == "thunk" else 0))
    c.write(encl, struct.pack("<QIIQQQIIQ", 0x314c434e454d454d, 1, 0x10, R5, 0x10000, 0, 0, 0,
                              encl if loop_list == "enclave" else 0))
    c.q(root, 0x31524950414d454d)
    c.write(root + 8, struct.pack("<II", 1, 176))
    c.q(root + 16, generation, 4096, 65536)
    c.write(root + 40, struct.pack("<II", 1, 0))
    count = len(regions) if region_count is None else region_count
    c.q(root + 48, count, REC, U64 - 7 if wild else heap, sec, 0, encl, thunk, 0)
    c.root = root
    return c


def synth(args):
    os.makedirs(args.outdir, exist_ok=True)
    seeds = {
        "plain": base_core(4242, "/nonexistent/bin/plain"),
        "memapi": memapi_core(args.symbols),
        "memapi-torn": memapi_core(args.symbols, generation=3),
        "memapi-loop": memapi_core(args.symbols, loop=True),
        # The same loop under a region count that does not stop it.
        "memapi-loop-long": memapi_core(args.symbols, loop=True, region_count=(1 << 24) - 1),
        "memapi-wild": memapi_core(args.symbols, wild=True),
        "memapi-long-name": memapi_core(args.symbols, long_name=True),
    }
    for name in ("heap", "enclave", "thunk", "section"):
        seeds["memapi-%s-loop" % name] = memapi_core(args.symbols, loop_list=name)
    for name, c in seeds.items():
        path = os.path.join(args.outdir, "seed-" + name + ".core")
        with open(path, "wb") as f:
            f.write(c.build())
        print(path, "%#x" % c.root)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--memtool", required=True)
    r.add_argument("--core", required=True)
    r.add_argument("--addr", required=True)
    r.add_argument("--root")
    r.add_argument("--seed", type=int, default=1)
    r.add_argument("--random", type=int, default=40)
    r.add_argument("--strict-utf8", action="store_true")
    r.add_argument("--sample", type=int, default=1, help="run every Nth variant only")
    s = sub.add_parser("synth")
    s.add_argument("outdir")
    s.add_argument("--symbols", required=True)
    args = ap.parse_args()
    return run(args) if args.cmd == "run" else synth(args)


if __name__ == "__main__":
    sys.exit(main())
