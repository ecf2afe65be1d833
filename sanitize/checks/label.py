"""label: an integer in [0, num_classes) or exactly the ignore label.

Caffe reads labels with atoi(), which turns `3.7` into 3 and `cat` into 0 without a word;
a label of num_classes or more is an out-of-bounds index in the loss. All are errors here.
A container's sample is judged on the label read from it (an LMDB record's Datum, a WebDataset
sample's label member), unless the container itself could not be read.
"""

from __future__ import annotations

from sanitize.config import ScanConfig
from sanitize.findings import Finding
from sanitize.labels import parse_label
from sanitize.model import Loaded


def check_label(loaded: Loaded, config: ScanConfig) -> list[Finding]:
    if config.task == "segmentation":
        return []  # the labels are the mask's pixels: the mask checks judge them
    if any(f.check == "container" and f.code != "no_image" for f in loaded.findings):
        return []  # the container could not be read (an LMDB record's label is in it): nothing to judge
    finding = parse_label(loaded.sample.label, config)[1]
    return [finding] if finding else []
