"""The payload log: append-only, durable per record, nothing lost across writer restarts."""

from __future__ import annotations

import json
import multiprocessing
import os

from compiler.deploy.local import payload_log
from compiler.deploy.local.payload_log import PayloadLog, PayloadWriter, read_records, rows


def _record(i: int, ts: float = 1_800_000_000.0) -> dict:
    return {"ts": ts + i, "id": f"r{i}", "inputs": {"amount": [float(i)], "hour": [i % 24]}}


def test_records_survive_a_restart_of_the_writer(tmp_path):
    first = PayloadWriter(tmp_path)
    for i in range(3):
        first.append(_record(i))
    # no close(): the process is killed; what was appended is on disk already
    second = PayloadWriter(tmp_path)
    for i in range(3, 5):
        second.append(_record(i))
    second.close()
    assert [r["id"] for r in read_records(tmp_path)] == ["r0", "r1", "r2", "r3", "r4"]


def _killed_writer(directory: str, count: int) -> None:
    writer = PayloadWriter(directory)
    for i in range(count):
        writer.append(_record(i))
    os._exit(0)  # no close, no flush of anything buffered: records must already be written


def test_a_killed_process_loses_no_appended_record(tmp_path):
    process = multiprocessing.get_context("fork").Process(
        target=_killed_writer, args=(str(tmp_path), 50)
    )
    process.start()
    process.join(30)
    assert process.exitcode == 0
    assert len(read_records(tmp_path)) == 50


def test_a_torn_last_line_is_skipped_and_earlier_lines_kept(tmp_path):
    writer = PayloadWriter(tmp_path)
    writer.append(_record(0))
    writer.append(_record(1))
    writer.close()
    (path,) = tmp_path.glob("*.jsonl")
    with path.open("ab") as handle:
        handle.write(b'{"ts": 1800000009, "inputs": {"amo')
    assert [r["id"] for r in read_records(tmp_path)] == ["r0", "r1"]


def test_windows_by_count_and_by_time(tmp_path):
    writer = PayloadWriter(tmp_path)
    for i in range(10):
        writer.append(_record(i))
    writer.close()
    assert [r["id"] for r in read_records(tmp_path, last=3)] == ["r7", "r8", "r9"]
    recent = read_records(tmp_path, since_seconds=2, now=1_800_000_009.5)
    assert [r["id"] for r in recent] == ["r8", "r9"]


def test_rows_flatten_batched_requests(tmp_path):
    records = [
        {"inputs": {"amount": [1.0, 2.0], "hour": [3, 4]}},
        {"inputs": {"amount": [5.0], "hour": [6]}},
    ]
    assert rows(records) == {"amount": [1.0, 2.0, 5.0], "hour": [3, 4, 6]}


def test_lines_are_json_objects_in_one_file_per_day(tmp_path):
    writer = PayloadWriter(tmp_path)
    writer.append(_record(0, ts=1_800_000_000.0))
    writer.append(_record(0, ts=1_800_000_000.0 + 86400))
    writer.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["20270115.jsonl", "20270116.jsonl"]
    assert all(json.loads(p.read_text())["id"] == "r0" for p in tmp_path.iterdir())
    assert oct(os.stat(tmp_path / files[0]).st_mode & 0o777) == "0o600"


def test_wrap_keeps_the_wrapped_runtime_and_its_parameters(tmp_path):
    settings = {
        "name": "fraud-scorer",
        "implementation": "mlserver_sklearn.SKLearnModel",
        "parameters": {"uri": "/m/model.joblib", "version": "3", "extra": {"other": 1}},
    }
    wrapped = payload_log.wrap(settings, PayloadLog(tmp_path, 0.5))
    assert wrapped["implementation"] == payload_log.RUNTIME
    assert wrapped["parameters"]["uri"] == "/m/model.joblib"
    assert wrapped["parameters"]["extra"] == {
        "other": 1,
        payload_log.INNER_KEY: "mlserver_sklearn.SKLearnModel",
        payload_log.DIR_KEY: str(tmp_path),
        payload_log.RATE_KEY: 0.5,
    }
    assert payload_log.wrap(settings, None) is settings
