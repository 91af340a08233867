"""`forewarn decode LOG`: the decoder's verdict on a capture, for humans and scripts.

Why a plain function of (path, out, err): the daemon's CLI dispatches to it, and tests run
it on real captures without a subprocess.
"""
from __future__ import annotations

import json
import sys
from typing import BinaryIO, TextIO

from ._decoder import NmeaDecoder
from ._file import read_lines


def decode_main(path: str, out: TextIO, err: TextIO) -> int:
    """One JSON line per fix on `out`; a JSON summary of dropped lines by reason on `err`.
    Exit 0, or 2 when the file cannot be opened."""
    stream: BinaryIO
    if path == "-":
        stream = sys.stdin.buffer
    else:
        try:
            stream = open(path, "rb")
        except OSError as exc:
            print(f"forewarn decode: cannot open {path!r}: {exc.strerror or exc}", file=err)
            return 2
    decoder = NmeaDecoder()
    fixes = 0
    try:
        for line in read_lines(stream):
            for fix in decoder.feed(line):
                out.write(json.dumps(fix.to_json()) + "\n")
                fixes += 1
        for fix in decoder.flush():
            out.write(json.dumps(fix.to_json()) + "\n")
            fixes += 1
    except OSError as exc:  # e.g. a directory, or a read error half-way
        print(f"forewarn decode: cannot read {path!r}: {exc.strerror or exc}", file=err)
        return 2
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()
    summary = {"sentences": decoder.sentences, "fixes": fixes,
               "dropped": dict(sorted(decoder.counters.items()))}
    print(json.dumps(summary), file=err)
    return 0
