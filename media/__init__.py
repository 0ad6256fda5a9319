"""The media pipeline: sniffing, safe decoding, EXIF evidence, thumbnails, storage, tus.

A library with no Flask import and no global session; ``app.media`` wires it into the API.
``media.s3`` (the only module importing boto3) is imported on demand, not from here.
"""

from media.errors import MediaError
from media.evidence import distance_m, seconds_apart
from media.ingest import IngestResult, ingest, sha256_file
from media.phash import hamming, is_near_duplicate
from media.processing import GPS, ExifInfo, ProcessedImage, process
from media.sniff import sniff
from media.storage import LocalStorage, Storage, original_key, thumbnail_key

__all__ = [
    "GPS",
    "ExifInfo",
    "IngestResult",
    "LocalStorage",
    "MediaError",
    "ProcessedImage",
    "Storage",
    "distance_m",
    "hamming",
    "ingest",
    "is_near_duplicate",
    "original_key",
    "process",
    "seconds_apart",
    "sha256_file",
    "sniff",
    "thumbnail_key",
]
