"""A small PNG encoder for `showqrcode`.

WeChat answers `showqrcode` with an image. No phone can scan a sandbox code (it could
not reach the sandbox anyway), so the image is a QR-looking pattern derived from the
ticket: three finder squares and ticket-dependent modules. It is a real, valid PNG,
distinct per ticket, which is what pages that display it and tests that fetch it need.
"""

from __future__ import annotations

import hashlib
import struct
import zlib

MODULES = 29
SCALE = 8
QUIET = 4


def _finder(matrix: list[list[bool]], top: int, left: int) -> None:
    for r in range(7):
        for c in range(7):
            edge = r in (0, 6) or c in (0, 6)
            core = 2 <= r <= 4 and 2 <= c <= 4
            matrix[top + r][left + c] = edge or core


def _in_finder(r: int, c: int) -> bool:
    far = MODULES - 8
    return (r < 8 and c < 8) or (r < 8 and c >= far) or (r >= far and c < 8)


def qr_like_matrix(text: str) -> list[list[bool]]:
    bits = b"".join(hashlib.sha256(f"{text}|{i}".encode()).digest() for i in range(4))
    matrix = [[False] * MODULES for _ in range(MODULES)]
    k = 0
    for r in range(MODULES):
        for c in range(MODULES):
            if not _in_finder(r, c):
                matrix[r][c] = bool(bits[k // 8] >> (k % 8) & 1)
                k += 1
    for top, left in ((0, 0), (0, MODULES - 7), (MODULES - 7, 0)):
        _finder(matrix, top, left)
    return matrix


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def render_png(matrix: list[list[bool]], scale: int = SCALE, quiet: int = QUIET) -> bytes:
    """Black modules on white, 8-bit greyscale."""
    size = (len(matrix) + 2 * quiet) * scale
    rows = []
    for r in range(-quiet, len(matrix) + quiet):
        line = bytearray()
        for c in range(-quiet, len(matrix) + quiet):
            dark = 0 <= r < len(matrix) and 0 <= c < len(matrix) and matrix[r][c]
            line.extend((0 if dark else 255,) * scale)
        rows.extend([b"\x00" + bytes(line)] * scale)
    header = struct.pack(">IIBBBBB", size, size, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
        + _chunk(b"IEND", b"")
    )


def qrcode_png(text: str) -> bytes:
    return render_png(qr_like_matrix(text))
