"""`python -m lab.trafficmanager` runs standalone, prints what clients need, stops on Ctrl-C."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_standalone_emulator_prints_its_coordinates_and_stops_on_ctrl_c() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "lab.trafficmanager"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines: dict[str, str] = {}
        for line in process.stdout:
            if line.startswith("ready"):
                break
            key, _, value = line.rstrip("\n").partition(": ")
            lines[key] = value
        assert lines["base_url"].startswith("https://127.0.0.1:")
        assert Path(lines["ca_file"]).is_file()
        assert lines["dns"].endswith("for blog-tm.trafficmanager.net")
        for key in ("tenant_id", "client_id", "client_secret", "subscription_id"):
            assert lines[key]
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=10)
        assert process.returncode == 0, err
        assert not Path(lines["ca_file"]).exists()  # the temporary CA file is cleaned up
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
