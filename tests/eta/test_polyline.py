"""Encoded polylines: Google's documented example, round trips, and rejection of garbage."""
import pytest

from forewarn.eta import decode_polyline, encode_polyline


def test_google_documented_example():
    pts = decode_polyline("_p~iF~ps|U_ulLnnqC_mqNvxq`@")
    assert pts == [(-120.2, 38.5), (-120.95, 40.7), (-126.453, 43.252)]


def test_round_trip_keeps_five_decimals():
    coords = [(-79.38123, 43.65321), (-79.4, 43.66), (-79.39999, 43.65999), (0.0, 0.0)]
    assert decode_polyline(encode_polyline(coords)) == coords


@pytest.mark.parametrize("bad", ["_p~iF~ps|", "abc def", "_p~iF~ps|U_"])
def test_truncated_or_foreign_text_is_an_error(bad):
    with pytest.raises(ValueError):
        decode_polyline(bad)
