"""Dataset readers: ImageFolder, Caffe list files and CSV."""

from __future__ import annotations

import pytest

import sanitize
from sanitize.datasets import open_dataset
from sanitize.errors import SanitizeError
from tests.conftest import jpeg_bytes


def test_imagefolder_class_index_is_sorted_folder_position(tmp_path):
    for cls in ("zebra", "ant", "moth"):
        (tmp_path / cls / "sub").mkdir(parents=True)
        (tmp_path / cls / "1.jpg").write_bytes(b"x")
        (tmp_path / cls / "sub" / "2.PNG").write_bytes(b"x")
        (tmp_path / cls / "notes.txt").write_text("not a sample")
    (tmp_path / "stray.jpg").write_bytes(b"x")  # outside any class folder: not a sample
    dataset = open_dataset(tmp_path)
    assert dataset.class_names == ["ant", "moth", "zebra"]
    assert dataset.num_classes == 3
    assert [(s.path, s.label) for s in dataset.samples] == [
        ("ant/1.jpg", "0"),
        ("ant/sub/2.PNG", "0"),
        ("moth/1.jpg", "1"),
        ("moth/sub/2.PNG", "1"),
        ("zebra/1.jpg", "2"),
        ("zebra/sub/2.PNG", "2"),
    ]


def test_imagefolder_symlink_loop_does_not_hang(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.jpg").write_bytes(b"x")
    (tmp_path / "a" / "loop").symlink_to(tmp_path / "a")
    assert [s.path for s in open_dataset(tmp_path).samples] == ["a/x.jpg"]


def test_imagefolder_excludes_the_report_folder(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.jpg").write_bytes(b"x")
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "y.jpg").write_bytes(b"x")
    dataset = open_dataset(tmp_path, exclude=(tmp_path / "report",))
    assert dataset.class_names == ["a"]


def test_list_file_paths_with_spaces_comments_and_blank_lines(tmp_path):
    (tmp_path / "train.txt").write_text("# header comment\n\nimg/a b.jpg 3\n  img/c.jpg\t1  \nimg/d.jpg\n")
    dataset = open_dataset(tmp_path / "train.txt")
    assert dataset.root == tmp_path
    assert [(s.path, s.label) for s in dataset.samples] == [
        ("img/a b.jpg", "3"),
        ("img/c.jpg", "1"),
        ("img/d.jpg", None),
    ]
    assert dataset.samples[0].file == str(tmp_path / "img/a b.jpg")
    assert dataset.num_classes is None


def test_list_file_root_option(tmp_path):
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "train.txt").write_text("a.jpg 0\n")
    dataset = open_dataset(tmp_path / "lists" / "train.txt", root=tmp_path)
    assert dataset.samples[0].file == str(tmp_path / "a.jpg")


def test_csv_default_and_custom_columns(tmp_path):
    (tmp_path / "d.csv").write_text('path,label\na.jpg,1\n"b, c.jpg",2\n')
    assert [(s.path, s.label) for s in open_dataset(tmp_path / "d.csv").samples] == [("a.jpg", "1"), ("b, c.jpg", "2")]
    (tmp_path / "e.csv").write_text("file,y,extra\na.jpg,,z\n")
    dataset = open_dataset(tmp_path / "e.csv", path_column="file", label_column="y")
    assert [(s.path, s.label) for s in dataset.samples] == [("a.jpg", None)]


def test_csv_missing_column_is_a_clear_error(tmp_path):
    (tmp_path / "d.csv").write_text("filename,label\na.jpg,1\n")
    with pytest.raises(SanitizeError, match=r"no column 'path'.*--path-column"):
        open_dataset(tmp_path / "d.csv")


def test_missing_dataset_and_binary_list_are_clear_errors(tmp_path):
    with pytest.raises(SanitizeError, match="dataset not found"):
        open_dataset(tmp_path / "nope.txt")
    (tmp_path / "bin.txt").write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(SanitizeError, match="not UTF-8"):
        open_dataset(tmp_path / "bin.txt")


@pytest.mark.parametrize("name", ["train.txt", "train.csv"])
def test_an_image_given_where_the_list_was_meant_is_a_one_line_error(tmp_path, name):
    """Read as text, an image's bytes would be a list of odd names (list files may name files whose
    bytes are not UTF-8): the file is sniffed first."""
    (tmp_path / name).write_bytes(jpeg_bytes())
    with pytest.raises(SanitizeError, match=f"{name} is a JPEG file, not a list of samples"):
        open_dataset(tmp_path / name)


def test_folder_without_class_folders(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"x")
    with pytest.raises(SanitizeError, match="no class folders"):
        open_dataset(tmp_path)


def test_a_path_with_a_space_and_no_label_does_not_turn_a_list_into_segmentation(tmp_path):
    (tmp_path / "train.txt").write_text("clean/cat 00.jpg\nclean/dog.jpg 1\nclean/bird.jpg 2\n")
    dataset = open_dataset(tmp_path / "train.txt")
    assert dataset.task == "classification"
    assert (dataset.samples[0].path, dataset.samples[0].label) == ("clean/cat", "00.jpg")


def test_most_lines_decide_that_a_list_holds_image_mask_pairs(tmp_path):
    (tmp_path / "seg.txt").write_text("a.jpg a.png\nb.jpg b.png\nc.jpg 3\n")
    assert open_dataset(tmp_path / "seg.txt").task == "segmentation"


def test_imagefolder_takes_netpbm_files_like_torchvision(tmp_path):
    (tmp_path / "a").mkdir()
    for name in ("x.ppm", "y.PGM", "z.txt"):
        (tmp_path / "a" / name).write_bytes(b"x")
    assert [s.path for s in open_dataset(tmp_path).samples] == ["a/x.ppm", "a/y.PGM"]


def test_imagefolder_lists_only_names_whose_extension_the_format_check_accepts(tmp_path):
    """One rule (pathlib's suffix) for what is listed and what a name promises: a hidden file
    named just `.jpg` has no extension, so it is not a sample (it would fail as one)."""
    (tmp_path / "a").mkdir()
    for name in (".jpg", "..jpg", ".x.jpg", "y.JPEG", "jpg", "z."):
        (tmp_path / "a" / name).write_bytes(jpeg_bytes())
    report = sanitize.scan(tmp_path, scheduler="synchronous")
    assert [s.path for s in report.samples] == ["a/..jpg", "a/.x.jpg", "a/y.JPEG"]
    assert report.valid, report.render()


def test_unreadable_list_and_csv_contents_are_one_line_errors(tmp_path):
    (tmp_path / "bad.txt").write_bytes("a.jpg 0\nb.jpg 1\n".encode("utf-16"))
    with pytest.raises(SanitizeError, match=r"bad.txt is not UTF-8 text \(it starts with a UTF-16 byte order mark\)"):
        open_dataset(tmp_path / "bad.txt")
    (tmp_path / "huge.csv").write_text("path,label\n" + "x" * 200_000 + ".jpg,1\n")
    with pytest.raises(SanitizeError, match=r"huge.csv line \d+ is not CSV the reader accepts: field larger"):
        open_dataset(tmp_path / "huge.csv")


def test_the_record_of_drawn_samples_holds_exactly_what_was_drawn(tmp_path):
    """Written in lines of ROWS samples: a partial last line, names JSON must escape (a newline, a
    quote, non-ASCII), a missing label and a mask all come back as they were drawn, in order."""
    from sanitize.datasets import ListedSamples
    from sanitize.model import Sample

    names = ["a b.jpg", "new\nline.png", 'quote".jpg', "é/ü.png"]
    drawn = [
        Sample.under(tmp_path, i, names[i % 4], None if i % 5 == 0 else str(i % 7), "m.png" if i % 11 == 0 else None)
        for i in range(ListedSamples.ROWS * 2 + 3)
    ]
    listed = ListedSamples(tmp_path)
    passed = list(listed.record(iter(drawn)))
    assert passed == drawn and len(listed) == len(drawn)
    assert list(listed) == drawn
    assert list(listed) == drawn  # every pass reads the record afresh

    partly = ListedSamples(tmp_path)
    stream = partly.record(iter(drawn))
    first = [next(stream) for _ in range(ListedSamples.ROWS + 1)]
    assert list(partly) == first  # a scan that stopped drawing: the record is what it drew


def test_the_record_gives_its_rows_without_making_samples(tmp_path):
    from sanitize.datasets import ListedSamples
    from sanitize.model import Sample

    drawn = [Sample.under(tmp_path, i, f"{i}.png", str(i % 3)) for i in range(ListedSamples.ROWS + 5)]
    listed = ListedSamples(tmp_path)
    list(listed.record(drawn))
    assert [tuple(row) for row in listed.rows()] == [(s.index, s.path, s.label, s.mask) for s in drawn]


def test_a_list_with_a_utf8_byte_order_mark_and_crlf_lines_reads_as_its_names(tmp_path):
    """Windows editors write both; the mark is no part of the first name."""
    (tmp_path / "train.txt").write_bytes(b"\xef\xbb\xbfa.jpg 0\r\nb.jpg 1\r\n")
    assert [(s.path, s.label) for s in open_dataset(tmp_path / "train.txt")] == [("a.jpg", "0"), ("b.jpg", "1")]
