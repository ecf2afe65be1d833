"""storage: Spill (per-sample rows kept on disk until the end, read back in chunks) and atomic writes."""

from __future__ import annotations

import numpy as np
import pytest

from sanitize.storage import Spill, atomic_write_text, partitioned

ROW = np.dtype([("index", np.int64), ("value", np.float64)])


def _rows(start: int, count: int) -> np.ndarray:
    rows = np.empty(count, dtype=ROW)
    rows["index"] = np.arange(start, start + count)
    rows["value"] = rows["index"] / 2
    return rows


def test_rows_come_back_in_order_in_chunks_and_appends_after_a_read_land_at_the_end():
    spill = Spill(ROW)
    spill.append(_rows(0, 5))
    spill.append(_rows(5, 0))  # an empty batch changes nothing
    spill.append(_rows(5, 6))
    chunks = list(spill.chunks(rows=4))
    assert [len(c) for c in chunks] == [4, 4, 3]
    assert np.concatenate(chunks)["index"].tolist() == list(range(11))
    next(spill.chunks(rows=2))  # a read left half-way
    spill.append(_rows(11, 2))
    back = np.concatenate(list(spill.chunks()))
    assert back["index"].tolist() == list(range(13)) and back["value"][12] == 6.0
    assert list(Spill(ROW).chunks()) == []


def test_rows_split_into_partitions_keep_their_order_and_a_spill_reads_back_whole():
    rows = _rows(0, 50)
    parts = partitioned([rows[:20], rows[20:20], rows[20:]], ROW, 3, lambda chunk: chunk["index"] % 3)
    assert [part.read()["index"].tolist() for part in parts] == [list(range(r, 50, 3)) for r in range(3)]
    assert [part.rows for part in parts] == [17, 17, 16]
    single = partitioned([rows[:7]], ROW, 1, lambda chunk: chunk["index"] // 0)  # one: never asked
    assert single[0].read()["index"].tolist() == list(range(7)) and len(Spill(ROW).read()) == 0


def test_an_atomic_write_replaces_the_target_whole_with_the_mode_asked_for(tmp_path):
    target = tmp_path / "list.txt"
    target.write_text("before\n")
    atomic_write_text(target, ["a\n", "b\n"], mode=0o600)
    assert target.read_text() == "a\nb\n" and target.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["list.txt"]


def test_an_atomic_write_that_fails_leaves_no_temporary_file(tmp_path):
    (tmp_path / "blocked").mkdir()  # the rename onto a folder fails, as on a full disk or read-only folder
    with pytest.raises(IsADirectoryError):
        atomic_write_text(tmp_path / "blocked", "text")
    assert [p.name for p in tmp_path.iterdir()] == ["blocked"]
