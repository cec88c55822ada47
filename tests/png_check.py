#!/usr/bin/env python3
"""Checks that PNG files are valid and not trivial, with the standard library only.

Valid: the signature, every chunk's CRC, an IHDR first and an IEND last, IDAT data that
inflates to exactly the rows the header promises, each row's filter type in 0..4.
Not trivial: at least --min-width x --min-height pixels, at least --min-colours distinct
colours, and at least --min-ink of the pixels differing from the most common colour (the
background). Prints one line per file; exits 1 if any file fails.
"""
import argparse
import struct
import sys
import zlib
from collections import Counter

CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # grey, RGB, palette, grey+alpha, RGBA


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def decode(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG signature")
    pos, chunks = 8, []
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        if zlib.crc32(kind + body) & 0xFFFFFFFF != crc:
            raise ValueError("bad CRC in chunk %r" % kind)
        chunks.append((kind, body))
        pos += 12 + length
    if not chunks or chunks[0][0] != b"IHDR" or chunks[-1][0] != b"IEND":
        raise ValueError("IHDR must come first and IEND last")
    width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    if depth != 8 or colour_type not in CHANNELS or interlace != 0:
        raise ValueError("unsupported PNG: depth %d, colour type %d, interlace %d" % (depth, colour_type, interlace))
    bpp = CHANNELS[colour_type]
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    stride = width * bpp
    if len(raw) != height * (stride + 1):
        raise ValueError("image data holds %d bytes, the header promises %d" % (len(raw), height * (stride + 1)))
    pixels, previous = Counter(), bytearray(stride)
    for y in range(height):
        filter_type = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if filter_type > 4:
            raise ValueError("row %d has filter type %d" % (y, filter_type))
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = previous[i]
            c = previous[i - bpp] if i >= bpp else 0
            predictor = (0, a, b, (a + b) // 2, paeth(a, b, c))[filter_type]
            line[i] = (line[i] + predictor) & 0xFF
        for x in range(0, stride, bpp):
            pixels[bytes(line[x:x + bpp])] += 1
        previous = line
    return width, height, pixels


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("files", nargs="+")
    parser.add_argument("--min-width", type=int, default=300)
    parser.add_argument("--min-height", type=int, default=200)
    parser.add_argument("--min-colours", type=int, default=8)
    parser.add_argument("--min-ink", type=float, default=0.01)
    args = parser.parse_args()
    failed = False
    for path in args.files:
        try:
            width, height, pixels = decode(path)
            background = pixels.most_common(1)[0][1]
            ink = 1.0 - background / float(width * height)
            problems = []
            if width < args.min_width or height < args.min_height:
                problems.append("only %dx%d pixels" % (width, height))
            if len(pixels) < args.min_colours:
                problems.append("only %d colours" % len(pixels))
            if ink < args.min_ink:
                problems.append("only %.4f of the pixels differ from the background" % ink)
            status = "FAIL " + "; ".join(problems) if problems else "ok"
            print("%s: %dx%d, %d colours, ink %.3f: %s" % (path, width, height, len(pixels), ink, status))
            failed = failed or bool(problems)
        except Exception as error:  # noqa: BLE001 - every failure is reported per file
            print("%s: FAIL %s" % (path, error))
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
