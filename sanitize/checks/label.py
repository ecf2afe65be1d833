"""label: an integer in [0, num_classes) or exactly the ignore label.

Caffe reads labels with atoi(), which turns `3.7` into 3 and `cat` into 0 without a word;
a label of num_classes or more is an out-of-bounds index in the loss. All are errors here.
A container's sample is judged on the label read from it (an LMDB record's Datum, a WebDataset
sample's label member); a corrupt shard's own entry has none.
"""

from __future__ import annotations

from sanitize.config import ScanConfig
from sanitize.findings import Finding
from sanitize.labels import parse_label
from sanitize.model import Loaded, Sample


def has_label(sample: Sample) -> bool:
    """Whether a sample has a label to judge: not a whole shard's entry (a corrupt shard's finding),
    nor an LMDB record whose Datum could not be read (its label is in it). Depends on the sample
    alone, so that an audit re-judging a stored result's label concludes the same."""
    member = sample.member
    return member is None or (member.key != "" and not (member.kind == "lmdb" and sample.label is None))


def check_label(loaded: Loaded, config: ScanConfig) -> list[Finding]:
    if config.task == "segmentation":
        return []  # the labels are the mask's pixels: the mask checks judge them
    if not has_label(loaded.sample):
        return []
    finding = parse_label(loaded.sample.label, config)[1]
    return [finding] if finding else []
