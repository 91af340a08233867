"""GPS ingestion: NMEA 0183 from serial ports, gpsd, MQTT or files, assembled into `Fix`es."""
from ._cli import decode_main
from ._decoder import NmeaDecoder, iter_fixes
from ._file import FileSource
from ._fix import Fix, FixMode, Quality
from ._gate import FixGate, distance_m
from ._gpsd import GpsdSource
from ._queue import LineQueueSource
from ._serial import SerialSource
from ._source import GpsSource
from ._status import GpsStatus

__all__ = [
    "Fix", "FixGate", "FixMode", "FileSource", "GpsSource", "GpsStatus", "GpsdSource",
    "LineQueueSource", "NmeaDecoder", "Quality", "SerialSource", "decode_main",
    "distance_m", "iter_fixes",
]
