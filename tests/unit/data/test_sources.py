"""What may be opened or dropped, as the format readers declare it."""

from __future__ import annotations

from mmstudio.data.sources import can_open, dataset_file_suffixes, file_filter, formats_text, is_pattern


def test_the_files_the_formats_open(tmp_path, build):
    assert {".csv", ".tsv", ".jsonl", ".ndjson", ".json", ".parquet", ".tar", ".tgz", ".tar.gz"} <= set(
        dataset_file_suffixes()
    )
    assert ".txt" not in dataset_file_suffixes()  # a .txt is a caption more often than a manifest
    for name in ("data.csv", "DATA.JSONL", "captions.json", "shard.tar.gz", "metadata.jsonl"):
        (tmp_path / name).write_text("x", encoding="utf-8")
        assert can_open([tmp_path / name]), name
    for name in ("notes.txt", "weights.bin"):
        (tmp_path / name).write_text("x", encoding="utf-8")
        assert not can_open([tmp_path / name]), name
    assert can_open([tmp_path]) and not can_open([tmp_path / "missing.csv"]) and not can_open([])
    shards = [build.tar(tmp_path / f"s{i}.tar", {"a.txt": b"x"}) for i in range(2)]
    assert can_open(shards) and not can_open([shards[0], tmp_path / "data.csv"])


def test_the_open_dialog_filter_lists_every_dataset_file_then_each_format():
    lines = file_filter().split(";;")
    assert lines[0] == "Datasets (*.csv *.tsv *.jsonl *.ndjson *.json *.parquet *.tar *.tgz *.tar.gz)"
    assert "Manifests (*.csv *.tsv *.jsonl *.ndjson *.json *.parquet)" in lines
    assert "Hugging Face imagefolder metadata (metadata.jsonl metadata.csv)" in lines
    assert "WebDataset shards (*.tar *.tgz *.tar.gz)" in lines
    assert lines[-1] == "All files (*)"


def test_what_mmstudio_reads_and_patterns():
    text = formats_text()
    assert text.startswith("mmstudio reads a folder or a manifest (.csv") and text.endswith(".tar shards.")
    for phrase in ("Hugging Face imagefolder", "sidecar", "COCO captions"):
        assert phrase in text
    assert is_pattern("/data/train-{000..009}.tar") and is_pattern("/data/*.tar")
    assert not is_pattern("/data/train.tar")
