"""Checks a run's TensorBoard files with TensorBoard's own readers; prints a JSON report.

usage: tb_check.py RUN_DIR TB_SUBDIR
Every record's length and data CRC are checked here first (TensorBoard's readers stop
silently at a bad record), then the plugin event accumulator reads scalars, images and
HParams, which are compared with scalars.csv and steps.csv.
"""
import csv
import json
import os
import struct
import sys
import zlib

from tensorboard.backend.event_processing import plugin_event_accumulator as pea
from tensorboard.compat.proto import event_pb2
from tensorboard.plugins.hparams import metadata


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def masked(data):
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def check_records(path):
    """Every record whole and with good CRCs; returns the decoded events."""
    data = open(path, "rb").read()
    i, events = 0, []
    while i < len(data):
        assert len(data) - i >= 12, f"{path}: torn header at {i}"
        header = data[i : i + 8]
        (length,) = struct.unpack("<Q", header)
        (hcrc,) = struct.unpack("<I", data[i + 8 : i + 12])
        assert masked(header) == hcrc, f"{path}: bad length CRC at {i}"
        body = data[i + 12 : i + 12 + length]
        assert len(body) == length, f"{path}: torn record at {i}"
        (dcrc,) = struct.unpack("<I", data[i + 12 + length : i + 16 + length])
        assert masked(body) == dcrc, f"{path}: bad data CRC at {i}"
        ev = event_pb2.Event()
        ev.ParseFromString(body)
        events.append(ev)
        i += 16 + length
    return events


def decode_png(png):
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    i, idat, width, height = 8, b"", None, None
    while i < len(png):
        (n,) = struct.unpack(">I", png[i : i + 4])
        kind = png[i + 4 : i + 8]
        body = png[i + 8 : i + 8 + n]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", body[:10])
            assert (depth, color) == (8, 2), "8-bit RGB"
        elif kind == b"IDAT":
            idat += body
        i += 12 + n
    raw = zlib.decompress(idat)
    assert len(raw) == height * (1 + 3 * width), "pixel data size"
    return {"width": width, "height": height}


def main():
    run_dir, sub = sys.argv[1], sys.argv[2]
    tb_dir = os.path.join(run_dir, sub)
    report = {"records": 0, "files": 0}
    steps_by_tag = {}
    for name in sorted(os.listdir(tb_dir)):
        if "tfevents" in name:
            report["files"] += 1
            evs = check_records(os.path.join(tb_dir, name))
            report["records"] += len(evs)
            assert evs[0].file_version == "brain.Event:2"
            for ev in evs:
                for v in ev.summary.value:
                    steps_by_tag.setdefault(v.tag, []).append(ev.step)
    report["duplicate_steps"] = {t: s for t, s in steps_by_tag.items() if len(s) != len(set(s))}

    acc = pea.EventAccumulator(tb_dir, size_guidance={"tensors": 0, "images": 0})
    acc.Reload()
    tags = acc.Tags()["tensors"]

    def series(tag):
        return [(e.step, float(e.tensor_proto.float_val[0])) for e in acc.Tensors(tag)] if tag in tags else []

    # scalars.csv (per epoch) against the epoch/ and val/ tags
    rows = list(csv.DictReader(open(os.path.join(run_dir, "scalars.csv"))))
    mism = []
    for col, tag in [("loss", "epoch/loss"), ("noise_loss", "epoch/noise_loss"), ("image_loss", "epoch/image_loss"),
                     ("val_noise_loss", "val/noise_loss"), ("val_image_loss", "val/image_loss"), ("images_per_s", "epoch/images_per_s")]:
        want = [(int(r["step"]), float(r[col])) for r in rows if r[col] != ""]
        got = series(tag)
        if len(want) != len(got) or any(a[0] != b[0] or abs(a[1] - b[1]) > 1e-6 * max(1, abs(a[1])) for a, b in zip(want, got)):
            mism.append({"tag": tag, "csv": want, "tb": got})
    srows = list(csv.DictReader(open(os.path.join(run_dir, "steps.csv"))))
    for col, tag in [("loss", "train/loss"), ("noise_loss", "train/noise_loss"), ("image_loss", "train/image_loss"), ("lr", "train/lr")]:
        want = [(int(r["step"]), float(r[col])) for r in srows]
        got = series(tag)
        if len(want) != len(got) or any(a[0] != b[0] or abs(a[1] - b[1]) > 1e-6 * max(1, abs(a[1])) for a, b in zip(want, got)):
            mism.append({"tag": tag, "csv": want, "tb": got})
    report["mismatches"] = mism
    report["epoch_rows"] = len(rows)
    report["step_rows"] = len(srows)

    # images: PNG of the expected size, decoded (IHDR, and the IDAT stream inflates to
    # height rows of 1 + 3 * width bytes)
    from tensorboard.backend.event_processing import event_accumulator as ea

    acc2 = ea.EventAccumulator(tb_dir, size_guidance={"images": 0})
    acc2.Reload()
    images = []
    for im in acc2.Images("samples") if "samples" in acc2.Tags()["images"] else []:
        images.append(dict(step=im.step, meta=[im.width, im.height], **decode_png(im.encoded_image_string)))
    report["images"] = images

    # hparams
    hp = {}
    if "_hparams_/session_start_info" in tags:
        info = metadata.parse_session_start_info_plugin_data(acc.SummaryMetadata("_hparams_/session_start_info").plugin_data.content)
        hp["start"] = {k: (v.string_value if v.HasField("string_value") else v.number_value) for k, v in info.hparams.items()}
        hp["group"] = info.group_name
    if "_hparams_/session_end_info" in tags:
        end = metadata.parse_session_end_info_plugin_data(acc.SummaryMetadata("_hparams_/session_end_info").plugin_data.content)
        hp["end_status"] = int(end.status)
    report["hparams"] = hp
    print(json.dumps(report))


if __name__ == "__main__":
    main()
