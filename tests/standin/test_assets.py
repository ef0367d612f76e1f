"""Unit tests (no Docker) of the static images the instance entity and accounts point at."""
import struct
import zlib

from standin import assets, config, serializers


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, size, seen = 8, None, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF
        if kind == b"IHDR":
            size = struct.unpack(">II", body[:8])
        seen.append(kind)
        pos += 12 + length
    assert seen[0] == b"IHDR" and seen[-1] == b"IEND" and b"IDAT" in seen
    return size


def test_every_image_is_a_valid_png_of_its_size():
    for path, (w, h, _) in assets.IMAGES.items():
        assert _png_size(assets.image(path)) == (w, h), path
    assert assets.image("/packs/nothing.png") is None


def test_urls_in_the_entities_are_served():
    cfg = config.load({"LOCAL_DOMAIN": "localhost"})
    base = cfg.base_url
    v2 = serializers.instance_v2(cfg, "none", 0)
    v1 = serializers.instance_v1(cfg, "none", 0)
    urls = [v2["thumbnail"]["url"], v1["thumbnail"]] + [i["src"] for i in v2["icon"]]
    for u in urls:
        assert u.startswith(base + "/packs/") and u[len(base):] in assets.IMAGES, u
