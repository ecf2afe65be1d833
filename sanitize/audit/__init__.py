"""Nightly audits: an incremental scan that keeps every sample's result in a SQLite store and
reports what changed since the previous audit.

A sample is re-checked (its file opened, through the scan's own pipeline) only when a result
it needs cannot be reused. What each kind of result depends on, and so when it is reused:

- file results (paths, decode, format, finite and mask findings; image and mask info, mask
  values): the file's size and mtime_ns, and its mask's (and their blake2b hashes with
  `verify_hashes`), the dataset root, the versions of sanitize, Pillow, numpy and simplejpeg,
  and FILE_FIELDS of the configuration (allow_mismatch, formats, max_pixels, max_file_bytes, task,
  palette);
  for segmentation also MASK_FIELDS (num_classes, ignore_label, normalization), because the
  mask checks judge the mask's pixels. Reused while all of these are unchanged.
- label results of classification (label findings, class index): the label text, num_classes
  and ignore_label. Never stored: re-evaluated from the label text on every audit, which opens
  no file, so with the probe off a change of num_classes or ignore_label re-checks no file.
- probe results (probe findings, magnitude, loss): the pixels, so everything file results
  depend on, plus the label text and PROBE_FIELDS (num_classes, ignore_label, probe_scale,
  probe_mean, probe_grid, probe_seed, normalization). A change to any of these re-checks the
  sample, because the probe needs its pixels (its file results are recomputed on the way).
  With the probe off, stored probe results are ignored but kept, for a later audit with the
  same probe settings.
- dataset-wide findings (scale outliers, rare mask values): recomputed on every audit.

The store survives kill -9 at any moment: results are committed batch by batch (WAL mode), and
the baseline the diff is taken against moves, in one transaction, only when an audit completes,
so the next audit reuses what the interrupted one committed and still reports every change
since the last completed audit. One audit per store at a time (an flock on DB.lock).
"""

from __future__ import annotations

import os
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sanitize.audit.diff import AuditDiff, diff_since
from sanitize.audit.reuse import Fingerprints, content_hashes, plan_reuse, stored_rows
from sanitize.audit.store import (
    UPSERT,
    RunRecord,
    begin_run,
    changed_since_baseline,
    claim,
    complete_run,
    connect,
    exclusive,
    history,
    store_errors,
    store_keys,
)
from sanitize.config import FailOn
from sanitize.errors import SanitizeError
from sanitize.model import BatchResult
from sanitize.remote import ObjectStore, normalized
from sanitize.report import Report
from sanitize.scan import OnProgress, Scan

__all__ = ["AuditDiff", "AuditReport", "FailOn", "RunRecord", "audit", "history"]


@dataclass
class AuditReport:
    """A scan's Report of the whole dataset, plus the diff and how much was reused."""

    report: Report
    diff: AuditDiff
    run_id: int
    checked: int
    reused: int

    def exit_code(self, fail_on: FailOn | str = FailOn.NEW) -> int:
        """1 when there are errors new since the last audit (or, with "any", any error), else 0."""
        if FailOn(fail_on) is FailOn.ANY:
            return self.report.exit_code()
        return 1 if self.diff.newly_failing else 0

    def write(self, out: Path | str, store: ObjectStore | None = None) -> None:
        """The scan's report files plus diff.json (summary.json last), locally or (`store`) in object storage."""
        self.report.write(out, store, also={"diff.json": self.diff.to_dict()})

    def render(self, fail_on: FailOn | str = FailOn.NEW) -> str:
        """The scan's table, what was reused, the diff, then the verdict under `fail_on`."""
        return (
            f"{self.report.render()}\n"
            f"audit #{self.run_id}: {self.checked:,} samples checked, {self.reused:,} reused from the store\n"
            f"{self.diff.render()}\n"
            f"{self.verdict(fail_on)}"
        )

    def verdict(self, fail_on: FailOn | str = FailOn.NEW) -> str:
        """The audit's verdict under `fail_on` in one line (the last of render(), repeated by CI outputs)."""
        fail_on = FailOn(fail_on)
        verdict = "FAIL" if self.exit_code(fail_on) else "PASS"
        reason = "new errors since the last audit" if fail_on is FailOn.NEW else "samples with errors"
        count = len(self.diff.newly_failing) if fail_on is FailOn.NEW else self.report.error_count
        return f"{verdict} (--fail-on {fail_on.value}): {count:,} {reason}"


def _refuse_containers(kind: str, verify_hashes: bool) -> None:
    """An LMDB's labels are in its records, which an audit does not re-read for a reused result (it
    re-judges the listed label text), and a shard's hash would be read once per sample in it."""
    if kind == "lmdb":
        raise SanitizeError("audit of a Caffe LMDB is not supported (its labels are in the records): use sanitize scan")
    if kind == "webdataset" and verify_hashes:
        raise SanitizeError("--verify-hashes is not supported for tar shards (each shard would be hashed per sample)")


def audit(
    source: Path | str | None,
    db: Path | str,
    *,
    out: Path | str | None = None,
    verify_hashes: bool = False,
    on_progress: OnProgress | None = None,
    **options: Any,
) -> AuditReport:
    """Scan a dataset incrementally against the store `db`; return the Report of every sample and
    the diff against the previous completed audit (also written to `out` if given, plus diff.json).

    `options` are scan()'s. `verify_hashes` reads every file to compare its blake2b hash with the
    stored one, so a rewrite that kept size and mtime_ns is re-checked too. Which stored results are
    reused under which change is in this module's docstring. Raises SanitizeError when another audit
    holds the store, or the store belongs to another dataset.
    """
    db = Path(db)
    run = Scan.start(source, options, out=out, on_progress=on_progress, folders=(db.parent,))
    dataset, config = run.dataset, run.config
    _refuse_containers(dataset.kind, verify_hashes)
    remote = dataset.store is not None
    real_root = normalized(str(dataset.root)) if remote else Path(os.path.realpath(dataset.root))
    fingerprints = Fingerprints.of(config, real_root)
    with exclusive(db), closing(connect(db)) as conn, store_errors(db):
        claim(conn, db, dataset)
        previous_run, run_id = begin_run(conn, dataset, config, fingerprints, verify_hashes)
        samples = dataset.samples
        keys = store_keys(samples)
        index_of = dict(zip(keys, range(len(keys)), strict=True))
        if remote:
            dataset.store.fresh_filesystem()  # identities from the store as it is now
        # an object's ETag is part of its identity already: verify_hashes reads no object
        hashes = content_hashes(samples, real_root) if verify_hashes and not remote else None
        plan = plan_reuse(conn, samples, index_of, config, fingerprints, hashes, run.add, str(real_root), dataset.store)

        def store(batch: BatchResult) -> None:
            with conn:
                conn.executemany(UPSERT, stored_rows(batch, keys, samples, plan.identities, fingerprints))

        checked_by = run.check(plan.to_check, on_results=store) if plan.to_check else None
        stats = {"db": str(db), "run": run_id, "checked": len(plan.to_check), "reused": plan.reused}
        report = run.finish(checked_by, audit=stats, samples=samples)
        changed = changed_since_baseline(conn, index_of, len(samples))
        diff, new_error = diff_since(samples, plan, changed, report, previous_run)
        result = AuditReport(report, diff, run_id, len(plan.to_check), plan.reused)
        if out is not None:  # before the baseline moves: a crash here repeats the diff, never loses it
            try:
                result.write(out, run.out_store)
            except OSError as exc:
                raise SanitizeError(f"cannot write the audit report to {out}: {exc}") from None
        moved = np.flatnonzero((plan.base_error != new_error) | changed)
        complete_run(conn, result, [(int(new_error[i]), keys[i]) for i in moved], plan.gone, run.started)
    return result
