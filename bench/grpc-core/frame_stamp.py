"""The stamp of src/frame-stamp/mod.ts, in Python, for frames of one uniform picture.

Per row r of an RGB frame: bytes 0..3 frame number (u32 LE), 4..5 r & 0xffff (u16 LE), the
picture, then the FNV-1a checksum (u32 LE) over the row's picture bytes followed by its head,
then frame number & 0xffff (u16 LE). With one picture (black) in every row, the hash state after
a row's picture is the same for every row; the state after the frame number is then computed
once a frame, and each row adds only its two row-index bytes: stamping costs O(rows) of integer
arithmetic, not O(bytes) of Python, so the server's rate is bounded by copying, as EnSight's is.
"""
import struct
from itertools import chain, repeat

FNV_OFFSET = 0x811C9DC5
FNV_PRIME = 0x01000193
MASK = 0xFFFFFFFF
HEAD = struct.Struct("<IH")


def fnv(state, data):
    for b in data:
        state = ((state ^ b) * FNV_PRIME) & MASK
    return state


class StampedFrames:
    """Makes stamped width x height frames of a black picture, each with one struct.pack call.

    The format lists every row's head and tail fields with the picture between them as pad bytes
    (which pack writes as zeros): a frame is one C call plus O(rows) of checksum arithmetic.
    `prefix` and `suffix` are wire bytes packed around the pixels (a whole ImageReply).
    """

    def __init__(self, width, height, prefix=b"", suffix=b""):
        if width < 4 or height < 1:
            raise ValueError("a stamped frame needs width >= 4 and height >= 1")
        self.width = width
        self.height = height
        middle = width * 3 - 12
        self.picture_hash = fnv(FNV_OFFSET, bytes(middle))
        row = "IH%dxIH" % middle if middle else "IHIH"
        self.prefix = prefix
        self.suffix = suffix
        self.layout = struct.Struct("<%ds%s%ds" % (len(prefix), row * height, len(suffix)))
        self.row_low = [r & 0xFF for r in range(height)]
        self.row_high = [(r >> 8) & 0xFF for r in range(height)]
        self.row_index = [r & 0xFFFF for r in range(height)]

    @property
    def size(self):
        """Bytes of a packed frame (with prefix and suffix)."""
        return self.layout.size

    def pack(self, frame_number):
        """The frame's bytes (with prefix and suffix), in a new bytes object."""
        return self.layout.pack(self.prefix, *self._fields(frame_number), self.suffix)

    def pack_into(self, buffer, frame_number):
        """Writes the frame into `buffer` (a bytearray of at least `size` bytes), reused frame after frame."""
        self.layout.pack_into(buffer, 0, self.prefix, *self._fields(frame_number), self.suffix)

    def _fields(self, frame_number):
        a = fnv(self.picture_hash, struct.pack("<I", frame_number))
        p, m = FNV_PRIME, MASK
        checks = [((((a ^ lo) * p & m) ^ hi) * p) & m for lo, hi in zip(self.row_low, self.row_high)]
        return chain.from_iterable(zip(repeat(frame_number), self.row_index, checks, repeat(frame_number & 0xFFFF)))


def verify(pixels, width, height):
    """src/frame-stamp/mod.ts verifyFrame: (True, frame number) or (False, reason)."""
    row_bytes = width * 3
    if len(pixels) != row_bytes * height:
        return False, "%d bytes is not %dx%dx3" % (len(pixels), width, height)
    frame_number = struct.unpack_from("<I", pixels, 0)[0]
    for row in range(height):
        start = row * row_bytes
        tail = start + row_bytes - 6
        head_frame, index = HEAD.unpack_from(pixels, start)
        checksum, low = HEAD.unpack_from(pixels, tail)
        if head_frame != frame_number:
            return False, "row %d belongs to frame %d" % (row, head_frame)
        if index != row & 0xFFFF or low != frame_number & 0xFFFF:
            return False, "row %d is torn or shifted" % row
        if fnv(fnv(FNV_OFFSET, pixels[start + 6:tail]), pixels[start:start + 6]) != checksum:
            return False, "row %d fails its checksum" % row
    return True, frame_number
