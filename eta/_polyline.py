"""Google encoded polylines, the compact geometry routing engines (OSRM, Google, Valhalla) emit.

~20 lines of well-specified arithmetic: not worth a dependency.
"""
from __future__ import annotations


def decode_polyline(s: str, precision: int = 5) -> list[tuple[float, float]]:
    """Decode an encoded polyline into (lon, lat) pairs, GeoJSON order like `Route.geometry`.

    Raises ValueError on a truncated or non-polyline string, so a bad manifest is reported
    instead of producing a route that silently ends early.
    """
    factor = 10.0**precision
    coords: list[tuple[float, float]] = []
    lat = lon = 0
    i, n = 0, len(s)
    while i < n:
        deltas = []
        for _ in range(2):
            shift = result = 0
            while True:
                if i >= n:
                    raise ValueError("polyline ends in the middle of a coordinate")
                b = ord(s[i]) - 63
                i += 1
                if b < 0 or b > 63:
                    raise ValueError(f"character {s[i - 1]!r} at {i - 1} is not polyline data")
                result |= (b & 0x1F) << shift
                shift += 5
                if b < 0x20:
                    break
            deltas.append(~(result >> 1) if result & 1 else result >> 1)
        lat += deltas[0]
        lon += deltas[1]
        coords.append((lon / factor, lat / factor))
    return coords


def encode_polyline(coords: list[tuple[float, float]] | tuple[tuple[float, float], ...], precision: int = 5) -> str:
    """Inverse of `decode_polyline` (tests and the simulator write manifests with it)."""
    factor = 10.0**precision
    out: list[str] = []
    plat = plon = 0
    for lon, lat in coords:
        ilat, ilon = round(lat * factor), round(lon * factor)
        for d in (ilat - plat, ilon - plon):
            v = ~(d << 1) if d < 0 else d << 1
            while v >= 0x20:
                out.append(chr((0x20 | (v & 0x1F)) + 63))
                v >>= 5
            out.append(chr(v + 63))
        plat, plon = ilat, ilon
    return "".join(out)
