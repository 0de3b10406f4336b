#!/usr/bin/env python3
"""Compares memtool's JSON with a workload's ground truth (the file that
`memtool demo --serve FILE` writes from its own VirtualQuery, HeapWalk and
GetWriteWatch). Usage:
  truth.py regions TRUTH MAPS_JSON     every libmemapi region of the truth is
                                       in memtool maps' output, identical
  truth.py heaps TRUTH HEAP_JSON       every heap's blocks (memtool heap
                                       --blocks) equal HeapWalk's, in order
  truth.py query TRUTH QUERY_JSON BASE the region memtool query reports at
                                       BASE equals the truth's
Prints what differs and exits 1 on a difference."""
import json
import sys

STATE = {"MEM_COMMIT": 0x1000, "MEM_RESERVE": 0x2000, "MEM_FREE": 0x10000}
TYPE = {"MEM_PRIVATE": 0x20000, "MEM_MAPPED": 0x40000, "MEM_IMAGE": 0x1000000, "0": 0}
PROTECT = {"PAGE_NOACCESS": 0x01, "PAGE_READONLY": 0x02, "PAGE_READWRITE": 0x04,
           "PAGE_WRITECOPY": 0x08, "PAGE_EXECUTE": 0x10, "PAGE_EXECUTE_READ": 0x20,
           "PAGE_EXECUTE_READWRITE": 0x40, "PAGE_EXECUTE_WRITECOPY": 0x80,
           "PAGE_GUARD": 0x100, "PAGE_NOCACHE": 0x200, "PAGE_WRITECOMBINE": 0x400,
           "PAGE_TARGETS_INVALID": 0x40000000, "0": 0}


def protect(s):
    v = 0
    for part in s.split("|"):
        v |= PROTECT[part]
    return v


def region_key(r):
    return (int(r["base"], 16), int(r["allocation_base"], 16), r["size"])


def as_numbers(r):
    return {"base": int(r["base"], 16), "allocation_base": int(r["allocation_base"], 16),
            "size": r["size"], "state": STATE[r["state"]], "protect": protect(r["protect"]),
            "allocation_protect": protect(r["allocation_protect"]), "type": TYPE[r["type"]]}


def truth_numbers(r):
    return {"base": int(r["base"], 16), "allocation_base": int(r["allocation_base"], 16),
            "size": r["size"], "state": r["state"],
            "protect": r["protect"] if r["state"] == 0x1000 else 0,
            "allocation_protect": r["allocation_protect"], "type": r["type"]}


def regions(truth, out):
    got = {}
    for r in out["regions"]:
        n = as_numbers(r)
        got[n["base"]] = n
    bad = 0
    for r in truth["regions"]:
        want = truth_numbers(r)
        have = got.get(want["base"])
        if have != want:
            print("region %#x: truth %s, memtool %s" % (want["base"], want, have))
            bad += 1
    if not truth["regions"]:
        print("the truth has no regions")
        bad += 1
    return bad


def heaps(truth, out):
    got = {h["handle"]: h for h in out["heaps"]}
    bad = 0
    for h in truth["heaps"]:
        mine = got.get(h["handle"])
        if mine is None:
            print("heap %s missing from memtool's output" % h["handle"])
            bad += 1
            continue
        want = [(b["address"], b["size"], b["busy"]) for b in h["blocks"]]
        have = [(b["address"], b["size"], b["busy"]) for b in mine["blocks"]]
        if want != have:
            for i, (w, g) in enumerate(zip(want, have)):
                if w != g:
                    print("heap %s block %d: HeapWalk %s, memtool %s" % (h["handle"], i, w, g))
                    break
            print("heap %s: HeapWalk %d blocks, memtool %d" % (h["handle"], len(want), len(have)))
            bad += 1
        busy = sum(1 for b in h["blocks"] if b["busy"])
        if mine["busy_blocks"] != busy or mine["problem_count"] != 0:
            print("heap %s: busy_blocks %d (HeapWalk %d), problems %d" %
                  (h["handle"], mine["busy_blocks"], busy, mine["problem_count"]))
            bad += 1
    return bad


def query(truth, out, base):
    want = [truth_numbers(r) for r in truth["regions"] if int(r["base"], 16) == int(base, 16)]
    have = as_numbers(out["regions"][0])
    if len(want) != 1 or want[0] != have:
        print("query %s: truth %s, memtool %s" % (base, want, have))
        return 1
    return 0


def main():
    what, truth = sys.argv[1], json.load(open(sys.argv[2]))
    out = json.load(open(sys.argv[3]))
    if what == "regions":
        bad = regions(truth, out)
    elif what == "heaps":
        bad = heaps(truth, out)
    else:
        bad = query(truth, out, sys.argv[4])
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
