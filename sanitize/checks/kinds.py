"""The two kinds of check, and the one contract each keeps.

A per-sample check is a pure function of one loaded sample: `(loaded, config) -> findings`.
It runs on the workers, sees nothing but its sample, and is tested table-driven.

A dataset-wide check needs every sample before it can judge any (is this image's scale far off
the dataset's? does this mask value ever form a region anywhere?). Its lifecycle:

1. on the workers, each sample's statistic is computed once, while the sample is loaded, and
   travels back in its SampleResult (the probe's input magnitude, a mask's value counts);
2. on the client, `add` (results with findings or a mask) and `add_columns` (clean samples, as
   columns: most of a dataset, from the workers or reused by an audit)
   fold every batch into the check's own state, never holding the samples themselves, and in
   memory that does not grow with the dataset (spill per-sample state to disk: storage.Spill);
3. once every sample is in, `verdict` gives the findings by sample index (`samples_of` lists
   the dataset once more for the samples a message names: the other entry of a duplicate), and
   `summary` the check's section of summary.json.

Both kinds declare their codes in the findings catalogue (sanitize.findings).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Collection
from typing import Any, ClassVar

from sanitize.config import ScanConfig
from sanitize.datasets import Dataset
from sanitize.findings import Finding
from sanitize.model import CleanColumns, Loaded, Sample, SampleResult

#: A per-sample check.
Check = Callable[[Loaded, ScanConfig], list[Finding]]
#: The samples of these indices (one more pass over the dataset's listing), for a verdict to name them.
SamplesOf = Callable[[Collection[int]], dict[int, Sample]]


class DatasetCheck(ABC):
    """A check judged over the whole dataset from per-sample statistics (see the module docstring)."""

    #: The catalogue code it emits, `check:code`.
    code: ClassVar[str]
    #: Where its summary goes in summary.json (a dotted path).
    section: ClassVar[str]

    def __init__(self, config: ScanConfig, against: tuple[Dataset, ...] = ()) -> None:
        self.config = config
        #: The validation sets the training set is compared with (--against), listed, not checked.
        self.against = against

    @classmethod
    @abstractmethod
    def applies(cls, config: ScanConfig) -> bool:
        """Whether the check runs under this configuration."""

    @abstractmethod
    def add(self, results: list[SampleResult]) -> None:
        """Fold in a batch of checked samples' statistics."""

    def add_columns(self, clean: CleanColumns) -> None:  # noqa: B027 - a mask check has nothing in them
        """Fold in samples without findings and without a mask, as columns."""

    @abstractmethod
    def verdict(self, samples_of: SamplesOf) -> dict[int, Finding]:
        """The finding of each sample the check flags, by sample index, once every sample is in."""

    @abstractmethod
    def summary(self, class_names: list[str] | None) -> dict[str, Any]:
        """The check's section of summary.json."""
