"""Media helpers built on ffmpeg/ffprobe: probe, streaming decode, clip encoding.

Every ffmpeg call is a subprocess with an argument list (never a shell string);
file names are passed as ``file:<absolute path>`` so a name can never be read as
an option or a protocol.
"""

from curation.media.decode import DecodeResult, FrameReader, decodes_frame
from curation.media.encode import ClipEncoder, EncodeError, EncodeSettings
from curation.media.geometry import fps_fraction, gop_frames, normalized_size
from curation.media.probe import MediaInfo, ProbeError, probe_media

__all__ = [
    "ClipEncoder",
    "DecodeResult",
    "EncodeError",
    "EncodeSettings",
    "FrameReader",
    "MediaInfo",
    "ProbeError",
    "decodes_frame",
    "fps_fraction",
    "gop_frames",
    "normalized_size",
    "probe_media",
]
