"""Phone targets: push a .tflite with ``adb`` and run Android's ``benchmark_model`` on it.

The ``benchmark_model`` binary (TFLite's C++ benchmark tool, built for the phone) must already
be on the device, by default at ``/data/local/tmp/benchmark_model``; delegates are chosen with
its ``--use_gpu`` / ``--use_hexagon`` / ``--use_nnapi`` flags. When ``adb`` or a device is missing
:func:`connect` raises one clear ``ValueError`` and nothing else happens.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from mhzoo.benchmarks.importers import BenchmarkModelResult, parse_benchmark_model_output
from mhzoo.benchmarks.targets import Target

__all__ = ["DEFAULT_BINARY", "DEVICE_DIR", "AdbDevice", "benchmark_model_args", "connect"]

DEFAULT_BINARY = "/data/local/tmp/benchmark_model"
DEVICE_DIR = "/data/local/tmp/mhzoo"
#: benchmark_model flag per delegate (tensorflow/lite/tools/delegates/README.md).
DELEGATE_FLAGS = {"xnnpack": "--use_xnnpack=true", "gpu": "--use_gpu=true",
                  "hexagon": "--use_hexagon=true", "nnapi": "--use_nnapi=true", "none": ""}


def _run(cmd: list[str], timeout: float) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise ValueError(f"`{' '.join(cmd[:4])} ...` did not finish in {timeout:g} s") from None
    except OSError as exc:
        raise ValueError(f"cannot run {cmd[0]}: {exc.strerror or exc}") from None


def benchmark_model_args(target: Target, graph: str, *, num_runs: int = 50,
                         warmup_runs: int = 5, min_secs: float = 1.0) -> list[str]:
    """The ``benchmark_model`` flags for ``target`` (batch 1 is the model's own)."""
    args = [f"--graph={graph}", f"--num_threads={target.threads}", f"--num_runs={num_runs}",
            f"--warmup_runs={warmup_runs}", f"--min_secs={min_secs:g}"]
    flag = DELEGATE_FLAGS[target.delegate]
    if flag:
        args.append(flag)
    if target.accelerator:  # pin NNAPI to one device (e.g. the EdgeTPU, not the DSP or GPU)
        args.append(f"--nnapi_accelerator_name={target.accelerator}")
    return args


@dataclass
class AdbDevice:
    """A connected Android device."""

    adb: str
    serial: str
    binary: str = DEFAULT_BINARY
    timeout_s: float = 600.0

    def _adb(self, *args: str, timeout: float | None = None) -> subprocess.CompletedProcess:
        return _run([self.adb, "-s", self.serial, *args], timeout or self.timeout_s)

    def getprop(self, name: str) -> str:
        """An Android system property (empty when unknown)."""
        return self._adb("shell", "getprop", name, timeout=30).stdout.strip()

    def info(self) -> dict[str, str]:
        """Device model, SoC and Android build (the machine description of its rows)."""
        return {"serial": self.serial, "model": self.getprop("ro.product.model"),
                "manufacturer": self.getprop("ro.product.manufacturer"),
                "soc": self.getprop("ro.board.platform"),
                "android": self.getprop("ro.build.version.release"),
                "build": self.getprop("ro.build.id")}

    def machine_id(self) -> str:
        """Store key of this device: ``adb | <model> | <build>``."""
        i = self.info()
        return f"adb | {i['manufacturer']} {i['model']} | {i['build']}".replace("  ", " ")

    def check_binary(self) -> None:
        """``ValueError`` with the fix when benchmark_model is not on the device."""
        r = self._adb("shell", "ls", self.binary, timeout=30)
        if r.returncode != 0 or "No such file" in (r.stdout + r.stderr):
            raise ValueError(f"benchmark_model not found on {self.serial} at {self.binary}; "
                             "push TFLite's Android benchmark_model binary there (adb push "
                             f"benchmark_model {self.binary} && adb shell chmod +x "
                             f"{self.binary}) or pass --device-binary")

    def push(self, local: str | os.PathLike) -> str:
        """Copy a file to the device folder; returns its device path."""
        self._adb("shell", "mkdir", "-p", DEVICE_DIR, timeout=30)
        remote = f"{DEVICE_DIR}/{Path(local).name}"
        r = self._adb("push", str(local), remote, timeout=300)
        if r.returncode != 0:
            msg = (r.stderr or r.stdout).strip().splitlines()
            raise ValueError(f"adb push {local} failed: {msg[-1] if msg else r.returncode}")
        return remote

    def run_benchmark(self, local_tflite: str | os.PathLike, target: Target, *,
                      num_runs: int = 50, warmup_runs: int = 5,
                      min_secs: float = 1.0) -> tuple[BenchmarkModelResult, str]:
        """Push and time a model; returns the parsed result and the raw log."""
        if target.runtime != "adb":
            raise ValueError(f"target {target.name!r} is not a phone target")
        remote = self.push(local_tflite)
        args = benchmark_model_args(target, remote, num_runs=num_runs,
                                    warmup_runs=warmup_runs, min_secs=min_secs)
        cmd = " ".join(shlex.quote(a) for a in [self.binary, *args])
        r = self._adb("shell", cmd)
        log = (r.stdout or "") + (r.stderr or "")
        if r.returncode != 0 and "count=" not in log:
            tail = log.strip().splitlines()
            raise ValueError(f"benchmark_model failed on {self.serial} for {target.name}: "
                             f"{tail[-1] if tail else 'exit ' + str(r.returncode)}")
        return parse_benchmark_model_output(log), log


def connect(serial: str | None = None, *, adb: str | None = None,
            binary: str = DEFAULT_BINARY) -> AdbDevice:
    """Find ``adb`` and one connected device (``serial`` picks one of several).

    Raises:
        ValueError: adb is not installed, no device is connected, the serial is unknown, or
            several devices are connected and none was chosen.
    """
    exe = adb or os.environ.get("ADB") or shutil.which("adb")
    if not exe or not (Path(exe).is_file() or shutil.which(exe)):
        raise ValueError("adb not found: install Android platform-tools and put adb on PATH "
                         "(or set ADB=/path/to/adb)")
    r = _run([exe, "devices"], 30)
    if r.returncode != 0:
        raise ValueError(f"`adb devices` failed: {(r.stderr or r.stdout).strip()[:200]}")
    ready, other = [], []
    for line in r.stdout.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 2:
            (ready if parts[1] == "device" else other).append((parts[0], parts[1]))
    if serial is not None:
        if serial not in [s for s, _ in ready]:
            state = dict(other).get(serial)
            raise ValueError(f"device {serial} is {state}" if state else
                             f"no device with serial {serial} is connected")
        return AdbDevice(exe, serial, binary)
    if not ready:
        hint = f" ({', '.join(f'{s}: {st}' for s, st in other)})" if other else ""
        raise ValueError(f"no Android device connected{hint}; connect one with USB debugging "
                         "enabled and check `adb devices`")
    if len(ready) > 1:
        raise ValueError(f"{len(ready)} devices connected ({', '.join(s for s, _ in ready)}); "
                         "choose one with --serial")
    return AdbDevice(exe, ready[0][0], binary)
