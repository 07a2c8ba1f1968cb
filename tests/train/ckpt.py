#!/usr/bin/python3
"""Read raci checkpoints (docs/MODEL.md section 7; src/io/checkpoint.c):
"RACICKPT", u32 version, u32 sections, then per section a 16-byte name, a
u64 length and the bytes; last a u64 FNV-1a checksum of all that precedes.

usage: ckpt.py FILE                  list the sections
       ckpt.py FILE1 FILE2 NAME...   exit 1 unless the named sections are equal
"""
import struct
import sys


def read(path):
    data = open(path, "rb").read()
    assert data[:8] == b"RACICKPT", f"{path}: not a raci checkpoint"
    h = 0xcbf29ce484222325
    for b in data[:-8]:
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    assert h == struct.unpack("<Q", data[-8:])[0], f"{path}: checksum mismatch"
    version, n = struct.unpack("<II", data[8:16])
    off, sec = 16, {}
    for _ in range(n):
        name = data[off:off + 16].split(b"\0")[0].decode()
        (size,) = struct.unpack("<Q", data[off + 16:off + 24])
        sec[name] = data[off + 24:off + 24 + size]
        off += 24 + size
    return sec


if __name__ == "__main__":
    a = read(sys.argv[1])
    if len(sys.argv) == 2:
        for k, v in a.items():
            print(f"{k:12s} {len(v):10d} bytes")
        sys.exit(0)
    b = read(sys.argv[2])
    bad = [k for k in sys.argv[3:] if a.get(k) != b.get(k)]
    for k in sys.argv[3:]:
        print(("differ " if k in bad else "equal  ") + k)
    sys.exit(1 if bad else 0)
