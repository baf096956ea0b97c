"""Starts `tensorboard --logdir LOGDIR` on 127.0.0.1 on a free port, queries the HParams
session groups and experiment and the scalars of RUN/TAG, prints them as JSON, and stops the server by its
PID. Every wait is bounded.

usage: tb_server.py LOGDIR RUN TAG
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url, data=None, timeout=10):
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"} if data else {})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


def main():
    logdir, run, tag = sys.argv[1:4]
    port = free_port()
    tb = os.path.join(os.path.dirname(sys.executable), "tensorboard")
    proc = subprocess.Popen(
        [tb, "--logdir", logdir, "--host", "127.0.0.1", "--port", str(port), "--reload_interval", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    out = {"pid": proc.pid}
    try:
        deadline = time.time() + 90
        runs = []
        # Wait for the server and for every run to be loaded.
        while time.time() < deadline:
            try:
                runs = get(base + "/data/runs", timeout=5)
                if run in runs:
                    break
            except Exception:
                pass
            time.sleep(0.5)
        out["runs"] = runs
        body = json.dumps({
            "experimentName": "",
            "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"],
            "colParams": [],
            "startIndex": 0,
            "sliceSize": 100,
        }).encode()
        groups = {}
        while time.time() < deadline:
            try:
                groups = get(base + "/data/plugin/hparams/session_groups", data=body)
                if groups.get("sessionGroups"):
                    break
            except Exception:
                pass
            time.sleep(0.5)
        out["session_groups"] = groups
        out["experiment"] = get(base + "/data/plugin/hparams/experiment", data=json.dumps({"experimentName": ""}).encode())
        out["scalars"] = get(base + f"/data/plugin/scalars/scalars?run={urllib.parse.quote(run)}&tag={urllib.parse.quote(tag)}")
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)
        out["stopped"] = proc.poll() is not None
    print(json.dumps(out))


if __name__ == "__main__":
    import urllib.parse  # noqa: E402

    main()
