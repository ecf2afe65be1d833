"""Long fuzzing runs: mutated files of every accepted format through check_batch and `sanitize scan`.

Round after round until --seconds run out, makes --per-round mutated files (seeded: round r uses
seed SEED + r, so any round can be made again), writes them as an ImageFolder and a segmentation
pairs list, and checks what tests/fuzzing.py says must hold for every file: check_batch twice in a
forked child (so a decoder that crashes or hangs in C code is caught too: the round is then
re-run file by file, each in a child of its own), then two `sanitize scan` runs of each part.
Every failing input is copied to --save with a line in its problems.jsonl; a summary is printed.
The whole run is held to --memory-gb of address space (RLIMIT_AS), inherited by every child.

    python benchmarks/fuzz.py --seconds 900 --seed 1 --save fuzz-failures
"""

from __future__ import annotations

import argparse
import collections
import json
import multiprocessing
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/fuzzing.py, from a checkout

from sanitize.formats import EXTENSION_FORMATS
from tests import fuzzing

FORK = multiprocessing.get_context("fork")


def _in_child(dataset: fuzzing.Dataset, budget: float, answer: Path) -> None:
    problems = fuzzing.check_in_process(dataset, budget)
    answer.write_text(json.dumps([[str(p.file), p.kind, p.detail] for p in problems]))


def in_process(dataset: fuzzing.Dataset, budget: float) -> list[fuzzing.Problem] | None:
    """check_in_process in a forked child; None if the child died or ran over its budget."""
    answer = dataset.root / "in-process.json"
    child = FORK.Process(target=_in_child, args=(dataset, budget, answer))
    child.start()
    child.join(budget * (2 * len(dataset.images) + 2 * len(dataset.pairs) + 4))
    if child.is_alive():
        child.kill()
        child.join()
    if child.exitcode != 0 or not answer.exists():
        return None
    return [fuzzing.Problem(Path(file), kind, detail) for file, kind, detail in json.loads(answer.read_text())]


def isolated(root: Path, cases: list[fuzzing.Case], budget: float) -> list[fuzzing.Problem]:
    """Each case alone in a child of its own: which one crashed or hung its process."""
    problems = []
    for i, case in enumerate(cases):
        dataset = fuzzing.write_dataset(root / f"alone-{i}", [case])
        found = in_process(dataset, budget)
        file = dataset.pair_list.parent / dataset.pairs[0][1] if case.mask else dataset.folder / dataset.images[0]
        problems += found if found is not None else [fuzzing.Problem(file, "crashed", "its child died or hung")]
    return problems


def fuzz_round(root: Path, cases: list[fuzzing.Case], budget: float, timeout: float) -> tuple[dict, list]:
    dataset = fuzzing.write_dataset(root, cases)
    problems = in_process(dataset, budget)
    if problems is None:
        problems = isolated(root / "isolated", cases, budget)
    verdicts, found = fuzzing.scan_twice(dataset, timeout)
    return verdicts, problems + found


def save(problem: fuzzing.Problem, into: Path) -> None:
    into.mkdir(parents=True, exist_ok=True)
    if problem.file.is_file():
        shutil.copy2(problem.file, into / problem.file.name)
    with open(into / "problems.jsonl", "a") as log:
        log.write(json.dumps({"file": problem.file.name, "kind": problem.kind, "detail": problem.detail}) + "\n")


def _kind(case: fuzzing.Case) -> str:
    suffix = Path(case.name).suffix.lower()
    return ("mask " if case.mask else "") + EXTENSION_FORMATS.get(suffix, suffix)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60, help="stop starting rounds after this long")
    parser.add_argument("--seed", type=int, default=0, help="round r mutates with seed SEED + r")
    parser.add_argument("--per-round", type=int, default=400, help="mutated files per round")
    parser.add_argument("--budget", type=float, default=10, help="seconds each file may take in check_batch")
    parser.add_argument("--corpus", type=Path, default=fuzzing.CORPUS, help="more seed files, when present")
    parser.add_argument("--save", type=Path, default=Path("fuzz-failures"), help="where failing inputs go")
    parser.add_argument("--memory-gb", type=float, default=6, help="address-space limit of the whole run")
    args = parser.parse_args()
    limit = int(args.memory_gb * (1 << 30))
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    corpus = fuzzing.corpus_seeds(10_000, args.corpus, max_bytes=1 << 20)
    pools = [(fuzzing.image_seeds(), False), (corpus, False), (fuzzing.mask_seeds(), True)]
    tried: collections.Counter[str] = collections.Counter()
    outcomes: collections.Counter[str] = collections.Counter()
    problems: list[fuzzing.Problem] = []
    started, round_ = time.monotonic(), 0
    with tempfile.TemporaryDirectory(prefix="sanitize-fuzz-") as scratch:
        while time.monotonic() - started < args.seconds:
            cases = fuzzing.cases(pools, args.per_round, args.seed + round_)
            verdicts, found = fuzz_round(Path(scratch) / f"round-{round_}", cases, args.budget, timeout=600)
            tried.update(_kind(case) for case in cases)
            outcomes.update("error" if fuzzing.is_error(v) else "warning" if v else "clean" for v in verdicts.values())
            for problem in found:
                save(problem, args.save / f"seed-{args.seed + round_}")
            problems += found
            round_ += 1
            print(f"round {round_}: {sum(tried.values())} files, {len(problems)} problems", flush=True)
            shutil.rmtree(Path(scratch) / f"round-{round_ - 1}")
    elapsed = time.monotonic() - started
    print(
        f"\n{sum(tried.values())} mutated files in {round_} rounds, {elapsed:.0f} s, from "
        f"{sum(len(files) for files, _ in pools)} valid files ({len(corpus)} of them from {args.corpus})"
    )
    print("by format: " + ", ".join(f"{kind} {n}" for kind, n in sorted(tried.items())))
    print("scan verdicts: " + ", ".join(f"{kind} {n}" for kind, n in outcomes.most_common()))
    print(f"problems: {len(problems)}" + (f" (inputs saved in {args.save})" if problems else ""))
    for kind, n in collections.Counter(p.kind for p in problems).most_common():
        print(f"  {kind}: {n}")
    for problem in problems[:20]:
        print(f"  {problem.kind} {problem.file.name}: {problem.detail[:200]}")


if __name__ == "__main__":
    main()
