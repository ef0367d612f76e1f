"""Static images the API points at (instance thumbnail and icons, the missing avatar/header), served by the web
process the way Mastodon serves files from public/ (lib/public_file_server_middleware.rb).

The stand-in has no front-end build, so it draws plain single-colour PNGs of the real images' sizes instead of
Mastodon's artwork (app/javascript/images/preview.png, app/javascript/icons/android-chrome-*.png,
public/avatars/original/missing.png, public/headers/original/missing.png)."""
from __future__ import annotations

import struct
import zlib
from functools import lru_cache

ICON_SIZES = (36, 48, 72, 96, 144, 192, 256, 384, 512)
PREVIEW = "/packs/images/preview.png"
MISSING_AVATAR = "/avatars/original/missing.png"
MISSING_HEADER = "/headers/original/missing.png"
# lib/public_file_server_middleware.rb: CACHE_TTL (28 days), must-revalidate outside /system.
CACHE_CONTROL = "public, max-age=2419200, must-revalidate"
LAST_MODIFIED = "Fri, 27 Nov 2026 00:00:00 GMT"

# path -> (width, height, RGB colour)
IMAGES: dict[str, tuple[int, int, tuple[int, int, int]]] = {
    PREVIEW: (1200, 630, (0x56, 0x3a, 0xcc)),
    MISSING_AVATAR: (400, 400, (0xc8, 0xc8, 0xc8)),
    MISSING_HEADER: (1500, 500, (0xc8, 0xc8, 0xc8)),
    **{f"/packs/icons/android-chrome-{n}x{n}.png": (n, n, (0x63, 0x64, 0xff)) for n in ICON_SIZES},
}


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A valid 8-bit RGB PNG of one colour (no external imaging library in the image)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    row = b"\x00" + bytes(rgb) * width  # filter type 0 per scanline
    raw = row * height
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


@lru_cache(maxsize=None)
def image(path: str) -> bytes | None:
    spec = IMAGES.get(path)
    return png(*spec) if spec else None
