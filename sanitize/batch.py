"""The unit of work of one task: check a batch of samples, on whichever process runs it.

Each sample's file is read and decoded once (load/), every per-sample check runs on it
(checks/), then the whole batch goes through the probe in one matrix product (probe/). Nothing
here raises for a bad sample or a bug: either becomes a finding, so one sample never stops a scan.
`pipeline` decides where batches run and isolates the ones that crash their process.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sanitize.checks import CHECKS
from sanitize.checks.paths import PathGuard
from sanitize.config import ScanConfig
from sanitize.findings import Finding, error
from sanitize.labels import parse_label
from sanitize.load.container import load_member
from sanitize.load.fingerprint import describe_pixels
from sanitize.load.image import load, pillow_limits
from sanitize.load.mask import load_mask
from sanitize.model import BatchResult, ImageInfo, Loaded, Sample, SampleResult
from sanitize.probe.classify import run_probe
from sanitize.probe.net import ProbeResult
from sanitize.probe.segment import run_pixel_probe
from sanitize.remote import ObjectRoot, object_stat
from sanitize.storage import file_stat
from sanitize.watchdog import between_samples, checking


def _check_one(sample: Sample, guard: PathGuard, config: ScanConfig) -> Loaded:
    path_findings = guard.image(sample)
    if path_findings:
        loaded = Loaded(sample, ImageInfo(), findings=path_findings)
    else:
        loaded = (load if sample.member is None else load_member)(sample, config, guard.objects, guard.store)
    mask_path_findings = guard.mask(sample)
    loaded.findings.extend(mask_path_findings)
    if sample.mask_file is not None and not mask_path_findings:
        load_mask(loaded, config, guard.objects, guard.store)
    for check in CHECKS:
        loaded.findings.extend(check(loaded, config))
    return loaded


def _describe_isolating_failures(batch: list[Loaded]) -> None:
    """The batch's perceptual hashes and mask digests (load.fingerprint), taken together; if that
    fails (a bug, MemoryError), each sample alone, and one that still fails gets an error."""
    try:
        describe_pixels(batch)
        return
    except Exception:  # noqa: BLE001 - isolate the sample responsible below
        pass
    for loaded in batch:
        try:
            describe_pixels([loaded])
        except Exception as exc:  # noqa: BLE001 - a bug must not stop the scan
            loaded.findings.append(error("internal", "check_failed", f"{type(exc).__name__}: {exc}"))


def _probe_isolating_failures(batch: list[Loaded], config: ScanConfig) -> list[ProbeResult]:
    """The batch's probe results; if the batched probe fails (a bug, MemoryError), each sample is
    probed alone and the ones that still fail get an error: unvetted samples never pass."""
    probe = run_pixel_probe if config.task == "segmentation" else run_probe
    try:
        return probe(batch, config)
    except Exception:  # noqa: BLE001 - isolate the sample responsible below
        pass
    results: list[ProbeResult] = []
    for loaded in batch:
        try:
            results.extend(probe([loaded], config))
        except Exception as exc:  # noqa: BLE001 - a probe failure is a finding, never a crash
            results.append((None, None, [error("internal", "probe_failed", f"{type(exc).__name__}: {exc}")]))
    return results


def check_batch(samples: list[Sample], real_root: Path, config: ScanConfig) -> BatchResult:
    """Check a batch of samples: the unit of work of one Dask task."""
    loaded_batch: list[Loaded] = []
    guard = PathGuard(real_root)
    with pillow_limits(config):
        for sample in samples:
            checking(sample.index, sample.path)
            try:
                loaded = _check_one(sample, guard, config)
            except Exception as exc:  # noqa: BLE001 - a bug must not stop the scan
                loaded = Loaded(sample, ImageInfo())
                loaded.findings.append(error("internal", "check_failed", f"{type(exc).__name__}: {exc}"))
            loaded_batch.append(loaded)
        between_samples()
    _describe_isolating_failures(loaded_batch)
    probe_results = _probe_isolating_failures(loaded_batch, config)
    results = []
    for loaded, (magnitude, loss, probe_findings) in zip(loaded_batch, probe_results, strict=True):
        sample = loaded.sample
        results.append(
            SampleResult(
                index=sample.index,
                path=sample.path,
                label=sample.label,
                findings=loaded.findings + probe_findings,
                info=loaded.info,
                label_index=parse_label(sample.label, config)[0],
                magnitude=magnitude,
                loss=loss,
                mask=sample.mask,
                mask_info=loaded.mask.info if loaded.mask else None,
                mask_values=loaded.mask.values if loaded.mask else None,
                mask_regions=loaded.mask.regions if loaded.mask else (),
                digest=loaded.digest,
                phash=loaded.phash,
                mask_digest=loaded.mask.digest if loaded.mask else 0,
            )
        )
    return BatchResult.of(results)


def abandoned_result(sample: Sample, finding: Finding, real_root: Path | ObjectRoot | None = None) -> BatchResult:
    """The result of a sample whose check never finished (it killed its worker process, or ran past
    its deadline), with the size and mtime_ns of its files when they are inside the root (taken
    here, by the caller: without them quarantine could not tell the file is the one judged, and
    would never move it)."""
    info, mask_info = ImageInfo(), ImageInfo() if sample.mask is not None else None
    if real_root is not None:
        guard = PathGuard(real_root)
        for file, found, judged in ((sample.file, info, guard.image), (sample.mask_file, mask_info, guard.mask)):
            if file is not None and found is not None and not judged(sample):
                known = guard.objects.get(file, {}) if guard.store else None
                found.size, found.mtime_ns = object_stat(known) if known is not None else file_stat(file)
    result = SampleResult(
        sample.index, sample.path, sample.label, [finding], info, mask=sample.mask, mask_info=mask_info
    )
    return BatchResult.of([result])


def crashed_result(sample: Sample, reason: str, real_root: Path | ObjectRoot | None = None) -> BatchResult:
    """The result of a sample whose check killed its worker process (e.g. a decoder segfault)."""
    finding = error("decode", "crashed", f"checking this file killed the worker process ({reason})")
    return abandoned_result(sample, finding, real_root)


def timed_out_result(sample: Sample, seconds: float, real_root: Path | ObjectRoot | None = None) -> BatchResult:
    """The result of a sample still being checked past its deadline (see watchdog)."""
    finding = error(
        "decode",
        "timeout",
        f"still being checked after {seconds:g} s: abandoned and its worker replaced"
        " (--sample-timeout; raise it for files that are this slow to check)",
    )
    return abandoned_result(sample, finding, real_root)


class TimedOut:
    """The samples the watchdogs of a run abandoned ({index: seconds}), as the workers tell them."""

    def __init__(self) -> None:
        self.seconds: dict[int, float] = {}

    def heard(self, message: dict) -> None:
        self.seconds[int(message["index"])] = float(message["seconds"])

    def settle(
        self, batch: list[Sample], real_root: Path | ObjectRoot, on_results: Callable[[BatchResult], None]
    ) -> list[Sample]:
        """Report the batch's abandoned samples as timed out; return the rest, to be checked again."""
        for sample in (sample for sample in batch if sample.index in self.seconds):
            on_results(timed_out_result(sample, self.seconds[sample.index], real_root))
        return [sample for sample in batch if sample.index not in self.seconds]
