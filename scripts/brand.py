"""Draw IoT Bridge's own icon and logo into custom_components/iot_bridge/brand/.

Home Assistant (and HACS' brands check) read a custom integration's images from
its ``brand/`` folder: ``icon.png`` 256x256 and ``icon@2x.png`` 512x512, a
landscape ``logo.png`` (shortest side 128-256 px) and ``logo@2x.png`` (256-512 px),
plus ``dark_`` variants for dark themes. The drawing is the project's own: a bridge
arch carrying five nodes, one per vendor. It uses only Pillow and Pillow's built-in
font, so every machine draws the same pixels. Run ``scripts/brand`` after a change.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parent.parent
BRAND = ROOT / "custom_components" / "iot_bridge" / "brand"

# Drawn this many times larger, then scaled down: smooth edges without antialiasing support.
SUPERSAMPLE = 4
TOP = (20, 94, 140)  # deep blue
BOTTOM = (18, 160, 150)  # teal
WHITE = (255, 255, 255, 255)
NODE = (255, 196, 61, 255)  # amber
TEXT_LIGHT_THEME = (33, 37, 41, 255)
TEXT_DARK_THEME = (241, 243, 245, 255)
WORDMARK = "IoT Bridge"


def _tile(size: int) -> Image.Image:
    """A rounded square with a vertical blue-to-teal gradient."""
    gradient = Image.new("RGBA", (size, size))
    pixels = gradient.load()
    assert pixels is not None
    for y in range(size):
        t = y / (size - 1)
        colour = tuple(round(a + (b - a) * t) for a, b in zip(TOP, BOTTOM, strict=True))
        for x in range(size):
            pixels[x, y] = (*colour, 255)
    mask = Image.new("L", (size, size), 0)
    ImageDraw.Draw(mask).rounded_rectangle(
        (0, 0, size - 1, size - 1), radius=round(size * 0.22), fill=255
    )
    tile = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    tile.paste(gradient, (0, 0), mask)
    return tile


def _bridge(draw: ImageDraw.ImageDraw, size: int) -> None:
    """A bridge arch over a deck, with five nodes riding the arch."""
    s = size / 256  # design units are for a 256 px icon
    deck_y = 178 * s
    left, right = 36 * s, 220 * s
    arch_top = 62 * s
    width = round(14 * s)
    # The arch: the upper half of an ellipse whose ends stand on the deck.
    box = (left, arch_top, right, deck_y + (deck_y - arch_top))
    draw.arc(box, start=180, end=360, fill=WHITE, width=width)
    # Deck and piers.
    draw.rounded_rectangle(
        (22 * s, deck_y - 6 * s, 234 * s, deck_y + 8 * s), radius=7 * s, fill=WHITE
    )
    for x in (left + width / 2, right - width / 2):
        draw.rectangle((x - 7 * s, deck_y, x + 7 * s, 214 * s), fill=WHITE)
    # Hangers from the arch to the deck, under each node.
    cx, cy = (left + right) / 2, deck_y
    rx, ry = (right - left) / 2 - width / 2, deck_y - arch_top - width / 2
    nodes = []
    for degrees in (152, 121, 90, 59, 28):
        # Evenly spaced along the arch, by angle.
        angle = math.radians(degrees)
        x, y = cx + rx * math.cos(angle), cy - ry * math.sin(angle)
        nodes.append((x, y))
        draw.line((x, y, x, deck_y), fill=WHITE, width=round(5 * s))
    radius = 13 * s
    for x, y in nodes:
        draw.ellipse(
            (x - radius - 5 * s, y - radius - 5 * s, x + radius + 5 * s, y + radius + 5 * s),
            fill=WHITE,
        )
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=NODE)


def icon(size: int) -> Image.Image:
    """The square icon, drawn large and scaled down to ``size``."""
    big = size * SUPERSAMPLE
    image = _tile(big)
    _bridge(ImageDraw.Draw(image), big)
    return image.resize((size, size), Image.Resampling.LANCZOS)


def logo(height: int, text_colour: tuple[int, int, int, int]) -> Image.Image:
    """The icon followed by the word mark, trimmed to its content."""
    big = height * SUPERSAMPLE
    font = ImageFont.load_default(size=round(big * 0.56))
    probe = ImageDraw.Draw(Image.new("RGBA", (1, 1)))
    left, top, right, bottom = probe.textbbox((0, 0), WORDMARK, font=font, stroke_width=0)
    gap = round(big * 0.22)
    width = big + gap + (right - left)
    image = Image.new("RGBA", (width, big), (0, 0, 0, 0))
    image.paste(icon(big), (0, 0))
    draw = ImageDraw.Draw(image)
    # Centre the word mark's ink vertically on the icon.
    y = (big - (bottom - top)) / 2 - top
    stroke = max(1, round(big * 0.012))  # a touch heavier than the regular face
    draw.text(
        (big + gap - left, y),
        WORDMARK,
        font=font,
        fill=text_colour,
        stroke_width=stroke,
        stroke_fill=text_colour,
    )
    image = image.crop(image.getbbox())
    scale = height / image.height
    return image.resize((round(image.width * scale), height), Image.Resampling.LANCZOS)


def _save(image: Image.Image, path: Path) -> None:
    image.save(path, format="PNG", optimize=True)
    print(f"{path.name}: {image.width}x{image.height}, {path.stat().st_size} bytes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=BRAND, help="folder to write (default: %(default)s)"
    )
    out: Path = parser.parse_args().out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    print(f"Writing {out}")
    _save(icon(256), out / "icon.png")
    _save(icon(512), out / "icon@2x.png")
    _save(logo(128, TEXT_LIGHT_THEME), out / "logo.png")
    _save(logo(256, TEXT_LIGHT_THEME), out / "logo@2x.png")
    _save(logo(128, TEXT_DARK_THEME), out / "dark_logo.png")
    _save(logo(256, TEXT_DARK_THEME), out / "dark_logo@2x.png")


if __name__ == "__main__":
    main()
