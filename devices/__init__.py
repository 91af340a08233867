"""GPS ingestion: NMEA 0183 from serial ports, gpsd, MQTT or files, assembled into `Fix`es."""
from ._fix import Fix, FixMode, Quality

__all__ = ["Fix", "FixMode", "Quality"]
