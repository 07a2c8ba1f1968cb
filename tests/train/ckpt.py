#!/usr/bin/python3
"""Read and rewrite raci checkpoints (docs/MODEL.md "Checkpoint format";
src/io/checkpoint.c, src/train/checkpoint.c).

Container: "RACICKPT", u32 version, u32 sections, then per section a 16-byte
name, a u64 length and the bytes; last a u64 FNV-1a checksum of all that
precedes. Sections (schema 6: schema 5 with the ensemble section and the
finished members' mK.params and mK.bank_* sections; schema 5: the segment form with -raci_fast_static and
-raci_head_drivers; schema 4 without the latter; schema 3 without either; schema 2 was the windowed
model, refused by raci) hold little-endian int64, float32 and float64
fields and strings as an int64 length and the bytes.

usage: ckpt.py FILE                          list the sections and the format
       ckpt.py FILE1 FILE2 NAME...           exit 1 unless the named sections are equal
       ckpt.py set FILE OUT SECTION WORD V   OUT = FILE with the int64 at byte 8 * WORD
                                             of SECTION set to V (checksum recomputed);
                                             for "model", WORD may be a name of MODEL_WORDS
"""
import struct
import sys

FORMAT_SCHEMA, FORMAT_INT_BYTES = 0, 1  # words of the "format" section
# the int64 words that open the "model" section (schema 5; schema 4 lacks the last, schema 3 the last two), then the model
# name and per target its name, mean, sd and loss weight
MODEL_WORDS = ("kind", "no_retrieval", "no_slow", "no_film", "F", "S", "T", "W", "Ls", "P", "Hf", "Hs", "Hz",
               "Z", "A", "Ks", "Kf", "Ho", "D", "NH", "FF", "Sc", "Kt", "fast_static", "head_x")


def checksum(data):
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def read(path):
    """The sections, by name in file order, as bytes."""
    data = open(path, "rb").read()
    assert data[:8] == b"RACICKPT", f"{path}: not a raci checkpoint"
    assert checksum(data[:-8]) == struct.unpack("<Q", data[-8:])[0], f"{path}: checksum mismatch"
    version, n = struct.unpack("<II", data[8:16])
    off, sec = 16, {}
    for _ in range(n):
        name = data[off:off + 16].split(b"\0")[0].decode()
        (size,) = struct.unpack("<Q", data[off + 16:off + 24])
        sec[name] = data[off + 24:off + 24 + size]
        off += 24 + size
    return sec


def write(path, sec, version=1):
    """A checkpoint of the sections (name -> bytes), with its checksum."""
    out = bytearray(b"RACICKPT" + struct.pack("<II", version, len(sec)))
    for name, b in sec.items():
        out += name.encode().ljust(16, b"\0")[:16] + struct.pack("<Q", len(b)) + b
    out += struct.pack("<Q", checksum(out))
    open(path, "wb").write(out)


def floats(b):
    """An array section (params, best, adam_m, adam_v): int64 count, float32 values."""
    import numpy as np
    (n,) = struct.unpack("<q", b[:8])
    return np.frombuffer(b[8:8 + 4 * n], "<f4")


def norm(b):
    """The "norm" section: fmean, fstd, smean, sstd (float32), ncat (int64), cat."""
    import numpy as np
    nv, nc = struct.unpack("<qq", b[:16])
    f = [np.frombuffer(b[16 + 4 * nv * i:16 + 4 * nv * (i + 1)], "<f4") for i in range(4)]
    o = 16 + 16 * nv
    ncat = np.frombuffer(b[o:o + 8 * nv], "<i8")
    cat = np.frombuffer(b[o + 8 * nv:o + 8 * nv + 4 * nv * nc], "<f4").reshape(nv, nc)
    return {"fmean": f[0], "fstd": f[1], "smean": f[2], "sstd": f[3], "ncat": ncat, "cat": cat}


def model(b, schema=5):
    """The integer fields of the "model" section, by name."""
    words = MODEL_WORDS[:len(MODEL_WORDS) - max(0, 5 - schema)]
    return dict(zip(words, struct.unpack("<%dq" % len(words), b[:8 * len(words)])))


def set_word(sec, name, word, value):
    b = bytearray(sec[name])
    b[8 * word:8 * word + 8] = struct.pack("<q", value)
    sec[name] = bytes(b)


if __name__ == "__main__":
    if sys.argv[1] == "set":
        _, _, src, dst, name, word, value = sys.argv
        s = read(src)
        set_word(s, name, MODEL_WORDS.index(word) if name == "model" and word in MODEL_WORDS else int(word),
                 int(value))
        write(dst, s)
        sys.exit(0)
    a = read(sys.argv[1])
    if len(sys.argv) == 2:
        if "format" in a:
            schema, width = struct.unpack("<qq", a["format"][:16])
            print(f"schema {schema}, written with a {width}-byte PetscInt")
            if schema in (3, 4, 5, 6) and "model" in a:
                print("model " + " ".join(f"{k}={v}" for k, v in model(a["model"], min(schema, 5)).items()))
        else:
            print("schema 1 (raw structs)")
        for k, v in a.items():
            print(f"{k:12s} {len(v):10d} bytes")
        sys.exit(0)
    b = read(sys.argv[2])
    bad = [k for k in sys.argv[3:] if a.get(k) != b.get(k)]
    for k in sys.argv[3:]:
        print(("differ " if k in bad else "equal  ") + k)
    sys.exit(1 if bad else 0)
