#!/usr/bin/env python3
"""gen-unicode-tables.py - generate src/base/unicode_data.c from the Unicode
Character Database (UnicodeData.txt and PropList.txt).

Usage: scripts/gen-unicode-tables.py [UCD_DIR] > src/base/unicode_data.c
UCD_DIR defaults to /usr/share/unicode (Debian's unicode-data package).

Tables written (see src/base/unicode_data.h for their C declarations):
  - general category + White_Space of every code point, as a two-level table:
    unicode_cat_stage1[cp >> 7] picks a 128-entry block of unicode_cat_stage2
    (identical blocks are stored once); each byte is a category index (low 5
    bits, order of CATEGORIES below) with bit 5 set for White_Space;
  - unicode_cat_flags[64]: the UCAT_* flags of each such byte;
  - simple lower/upper case mappings as sorted (from, to) pairs;
  - full canonical decompositions (NFD, applied recursively) as sorted code
    points with an offset/length into one pool. Hangul syllables are left to
    code (they decompose algorithmically).
"""
import os
import sys

CATEGORIES = ["Cn", "Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No",
              "Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "Sm", "Sc", "Sk", "So",
              "Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Co"]
WS_BIT = 0x20
SHIFT = 7
BLOCK = 1 << SHIFT
NCP = 0x110000

MAJOR_FLAG = {"L": "UCAT_LETTER", "M": "UCAT_MARK", "N": "UCAT_NUMBER", "P": "UCAT_PUNCT",
              "S": "UCAT_SYMBOL", "Z": "UCAT_SEPARATOR", "C": "UCAT_OTHER"}
EXTRA_FLAG = {"Ll": "UCAT_LOWER", "Lu": "UCAT_UPPER", "Lt": "UCAT_TITLE",
              "Nd": "UCAT_NUMBER_DECIMAL", "Mn": "UCAT_MARK_NONSPACING"}


def read_unicode_data(path):
    """Yield (first, last, fields) for every entry, joining <..., First>/<..., Last>."""
    pending = None
    with open(path, encoding="utf-8") as f:
        for line in f:
            fields = line.rstrip("\n").split(";")
            if len(fields) < 15:
                continue
            cp = int(fields[0], 16)
            name = fields[1]
            if name.endswith(", First>"):
                pending = cp
                continue
            if name.endswith(", Last>"):
                yield pending, cp, fields
                pending = None
                continue
            yield cp, cp, fields


def read_white_space(path):
    ws = set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            rng, prop = [x.strip() for x in line.split(";")]
            if prop != "White_Space":
                continue
            lo, _, hi = rng.partition("..")
            ws.update(range(int(lo, 16), int(hi or lo, 16) + 1))
    return ws


def ucd_version(path):
    with open(path, encoding="utf-8") as f:
        first = f.readline()
    # "# PropList-15.0.0.txt"
    return first.strip().lstrip("# ").replace("PropList-", "").replace(".txt", "")


def build(ucd_dir):
    cats = bytearray(NCP)  # 0 = Cn
    lower, upper, decomp = {}, {}, {}
    for first, last, fields in read_unicode_data(os.path.join(ucd_dir, "UnicodeData.txt")):
        ci = CATEGORIES.index(fields[2])
        for cp in range(first, last + 1):
            cats[cp] = ci
        if first != last:
            continue
        if fields[5] and not fields[5].startswith("<"):
            decomp[first] = [int(x, 16) for x in fields[5].split()]
        if fields[12]:
            upper[first] = int(fields[12], 16)
        if fields[13]:
            lower[first] = int(fields[13], 16)
    for cp in read_white_space(os.path.join(ucd_dir, "PropList.txt")):
        cats[cp] |= WS_BIT
    return cats, lower, upper, decomp


def full_decomposition(cp, decomp):
    if cp not in decomp:
        return [cp]
    out = []
    for c in decomp[cp]:
        out.extend(full_decomposition(c, decomp))
    return out


def two_level(cats):
    blocks, index, stage1 = [], {}, []
    for b in range(NCP // BLOCK):
        blk = bytes(cats[b * BLOCK:(b + 1) * BLOCK])
        if blk not in index:
            index[blk] = len(blocks)
            blocks.append(blk)
        stage1.append(index[blk])
    return stage1, blocks


def emit_array(out, ctype, name, values, per_line, fmt):
    out.append(f"const {ctype} {name}[{len(values)}] = {{")
    for i in range(0, len(values), per_line):
        out.append("    " + ", ".join(fmt(v) for v in values[i:i + per_line]) + ",")
    out.append("};")
    out.append("")


def cat_flags_expr(ci):
    if ci & WS_BIT:
        base = cat_flags_expr(ci & ~WS_BIT)
        return base + " | UCAT_WHITESPACE" if base != "0" else "UCAT_WHITESPACE"
    if ci >= len(CATEGORIES):
        return "0"
    gc = CATEGORIES[ci]
    parts = [MAJOR_FLAG[gc[0]]]
    if gc in EXTRA_FLAG:
        parts.append(EXTRA_FLAG[gc])
    return " | ".join(parts)


def main():
    ucd_dir = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/unicode"
    version = ucd_version(os.path.join(ucd_dir, "PropList.txt"))
    cats, lower, upper, decomp = build(ucd_dir)
    stage1, blocks = two_level(cats)
    out = [
        "/*",
        " * unicode_data.c - GENERATED by scripts/gen-unicode-tables.py from the Unicode",
        f" * Character Database, version {version} (UnicodeData.txt, PropList.txt).",
        " * Do not edit: regenerate. Layout described in unicode_data.h.",
        " */",
        '#include "base/unicode.h"',
        '#include "base/unicode_data.h"',
        "",
        f'const char unicode_data_version[] = "{version}";',
        "",
        "const char unicode_cat_names[32][3] = {",
        "    " + ", ".join(f'"{c}"' for c in CATEGORIES) + ", \"\", \"\",",
        "};",
        "",
    ]
    emit_array(out, "uint16_t", "unicode_cat_flags", [cat_flags_expr(i) for i in range(64)], 2, str)
    emit_array(out, "uint16_t", "unicode_cat_stage1", stage1, 16, str)
    flat = b"".join(blocks)
    emit_array(out, "uint8_t", "unicode_cat_stage2", list(flat), 32, str)
    out.append(f"const size_t unicode_cat_stage2_len = {len(flat)};")
    out.append("")
    for name, table in (("lower", lower), ("upper", upper)):
        keys = sorted(table)
        emit_array(out, "uint32_t", f"unicode_{name}_from", keys, 10, lambda v: f"0x{v:04X}")
        emit_array(out, "uint32_t", f"unicode_{name}_to", [table[k] for k in keys], 10,
                   lambda v: f"0x{v:04X}")
        out.append(f"const size_t unicode_{name}_count = {len(keys)};")
        out.append("")
    keys = sorted(decomp)
    pool, offs, lens = [], [], []
    for k in keys:
        d = full_decomposition(k, decomp)
        assert len(d) <= 8
        offs.append(len(pool))
        lens.append(len(d))
        pool.extend(d)
    emit_array(out, "uint32_t", "unicode_nfd_from", keys, 10, lambda v: f"0x{v:04X}")
    emit_array(out, "uint16_t", "unicode_nfd_offset", offs, 16, str)
    emit_array(out, "uint8_t", "unicode_nfd_length", lens, 32, str)
    emit_array(out, "uint32_t", "unicode_nfd_pool", pool, 10, lambda v: f"0x{v:04X}")
    out.append(f"const size_t unicode_nfd_count = {len(keys)};")
    sys.stdout.write("\n".join(out) + "\n")
    print(f"{version}: {len(blocks)} blocks of {BLOCK}, {len(lower)} lower, {len(upper)} upper, "
          f"{len(keys)} decompositions ({len(pool)} code points)", file=sys.stderr)


if __name__ == "__main__":
    main()
