"""mode (per sample): an image that different loaders turn into different pixels.

- A CMYK or YCCK JPEG: Adobe's applications write CMYK inverted, and libjpeg leaves converting
  it to RGB to its caller (libjpeg.txt, "Special color spaces"), so each library does it its
  own way (or refuses the file): the colours a net is trained on depend on the loader.
- An EXIF orientation other than 1: the camera stored the pixels turned and asks viewers to turn
  them back (EXIF 2.32, tag 0x0112). cv2.imread and PIL.ImageOps.exif_transpose apply it,
  Image.open and torchvision.io.decode_image (by default) do not, so boxes and masks drawn on
  the displayed photo no longer fit the pixels some loaders give.
- An animated or multi-frame image in a classification set: a loader reads the first frame
  only, which may not be what was labelled.

Each is a warning: the pixels are fine, which ones the net sees is the user's call. Images whose
mode is the dataset's exception are judged dataset-wide (mixed_modes).
"""

from __future__ import annotations

from sanitize.config import ScanConfig
from sanitize.findings import Finding, warning
from sanitize.model import Loaded

#: What each EXIF orientation asks a viewer to do (TIFF 6.0 / EXIF 2.32, tag 0x0112).
ORIENTATIONS = {
    2: "mirror it",
    3: "rotate it 180 degrees",
    4: "flip it upside down",
    5: "mirror it and rotate it 90 degrees anticlockwise",
    6: "rotate it 90 degrees clockwise",
    7: "mirror it and rotate it 90 degrees clockwise",
    8: "rotate it 90 degrees anticlockwise",
}


def check_mode(loaded: Loaded, config: ScanConfig) -> list[Finding]:
    info = loaded.info
    findings = []
    if loaded.cmyk or (info.format == "JPEG" and info.mode == "CMYK"):
        findings.append(
            warning("mode", "cmyk", "a CMYK/YCCK JPEG: its colours differ between decoders; convert it to RGB")
        )
    if info.orientation is not None and info.orientation != 1:
        todo = ORIENTATIONS.get(info.orientation, "an undefined transform")
        findings.append(
            warning(
                "mode",
                "exif_rotated",
                f"EXIF orientation {info.orientation} ({todo}): loaders that apply it and those that do not"
                " give different pixels; store the pixels upright (e.g. PIL.ImageOps.exif_transpose)",
            )
        )
    if config.task == "classification" and (info.frames or 1) > 1:
        findings.append(warning("mode", "animated", f"{info.frames} frames: a loader reads the first one only"))
    return findings
