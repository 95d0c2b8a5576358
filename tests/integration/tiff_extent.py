#!/usr/bin/env python3
"""Prints the extent of a TIFF: the end of the furthest byte its header,
IFDs, out-of-line tag values and tiles or strips occupy. Read from the
TIFF 6.0 and BigTIFF specifications (both byte orders), independently of
libtiff and GDAL. A file whose length differs from its extent was cut
short or padded.

usage: tiff_extent.py FILE     (exit 1 with a message when malformed)
"""
import struct
import sys

SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8,
         11: 4, 12: 8, 13: 4, 16: 8, 17: 8, 18: 8}


def extent(data):
    bo = {b"II": "<", b"MM": ">"}.get(data[:2])
    if bo is None:
        raise ValueError("not a TIFF")
    magic = struct.unpack(bo + "H", data[2:4])[0]
    big = magic == 43
    if magic not in (42, 43):
        raise ValueError("bad magic %d" % magic)
    cw, esz, ow = (8, 20, 8) if big else (2, 12, 4)
    cfmt, ofmt = ("Q", "Q") if big else ("H", "I")

    def rd(fmt, off):
        n = struct.calcsize(bo + fmt)
        if off + n > len(data):
            raise ValueError("read past the end at %d" % off)
        return struct.unpack(bo + fmt, data[off:off + n])[0]

    end = 16 if big else 8
    ifd = rd(ofmt, 8 if big else 4)
    seen = set()
    while ifd:
        if ifd in seen:
            raise ValueError("IFD loop")
        seen.add(ifd)
        n = rd(cfmt, ifd)
        end = max(end, ifd + cw + n * esz + ow)
        tags = {}
        for i in range(n):
            at = ifd + cw + i * esz
            tag, typ = rd("H", at), rd("H", at + 2)
            count = rd(ofmt, at + 4)
            size = SIZES.get(typ)
            if size is None:
                raise ValueError("tag %d: unknown type %d" % (tag, typ))
            vat = at + 4 + ow
            if count * size > ow:
                vat = rd(ofmt, vat)
            end = max(end, vat + count * size)
            tags[tag] = (typ, count, vat, size)

        def values(tag):
            typ, count, vat, size = tags[tag]
            fmt = {1: "B", 3: "H", 4: "I", 16: "Q"}[typ]
            return [rd(fmt, vat + k * size) for k in range(count)]
        pair = (324, 325) if 324 in tags else (273, 279)
        offs, cnts = values(pair[0]), values(pair[1])
        if len(offs) != len(cnts):
            raise ValueError("offsets and byte counts differ in number")
        for o, c in zip(offs, cnts):
            end = max(end, o + c)
        ifd = rd(ofmt, ifd + cw + n * esz)
    return end


def main():
    data = open(sys.argv[1], "rb").read()
    try:
        print(extent(data))
    except (ValueError, KeyError) as e:
        sys.exit("%s: %s (length %d)" % (sys.argv[1], e, len(data)))


if __name__ == "__main__":
    main()
