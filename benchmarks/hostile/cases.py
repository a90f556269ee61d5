"""The cases: issue 16's classes, plus SIGKILL / SIGTERM of collect, train, search run and
regenerate followed by a resume. Each case function records its commands and problems on the
``Case``; an empty problem list is a pass."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sqlite3
import stat
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from harness import (
    DATA,
    ENV,
    MHZOO,
    SHARED,
    SPACE_OPTS,
    TARGETS,
    WORK,
    Case,
    Result,
    SetupError,
    case,
    fresh,
    header_mode,
    mhzoo,
    must,
    one_line_error,
    sha,
    show,
    sidecars,
)

CIFAR = SHARED / "cifar10"
C_OUT = "output paths"
C_NAN = "NaN / non-finite cost-model values"
C_BUDGET = "--time-budget 0"
C_HELD = "--held-out 1.5"
C_MIXED = "mixed-option datasets"
C_SIZE = "cost model of another input size"
C_DUP = "two models for one target"
C_LABELS = "labels beyond labels.txt / single class"
C_CORRUPT = "corrupt newest checkpoint"
C_STATE = "garbled checkpoint state"
C_IMAGES = "undecodable images"
C_MODEL = "unknown model name"
C_RECIPE = "recipe mismatch"
C_TFLOG = "TF log lines before the one-line error"
C_ROWAL = "read-only WAL store"
C_REFUSED = "refused store switched to WAL"
C_SIDECAR = "-wal/-shm left beside sources"
C_KILL = "interruption (SIGKILL / SIGTERM) and resume"
C_MSG = "messages naming options the command lacks"


# ============================================================================= argument sets
def search_args(out: Path, *extra: object, cost: Path | str | None = None,
                data: Path | str = CIFAR, steps: int = 4) -> list:
    return ["search", "run", "-O", "max_layers=1", "--reward", "max", "--cost-models",
            cost or DATA / "cm32", "--norm-factors", "cpu_fp32=0.07,cpu_int8=0.03", "--data",
            data, "--steps", steps, "--batch", 8, "--limit-train", 32, "--limit-held-out", 8,
            "--no-progress", "--deterministic", *extra, "-o", out]


def train_args(out: Path, *extra: object, data: Path | str | None = None,
               name: str = "multi_max") -> list:
    return ["train", name, "--width", "0.25", "--data", data or DATA / "img3", "--preset",
            "cifar10-proxy", "--batch-size", 8, "--held-out", 6, "--epochs", 2,
            "--checkpoint-every", 2, "--no-progress", *extra, "-o", out]


def dataset_args(out: Path, *extra: object, db: Path | None = None) -> list:
    return ["search", "dataset", "--db", db or DATA / "lat32.sqlite", "--space",
            "multi_hardware", *SPACE_OPTS, "-O", "input_size=32", "--target", TARGETS,
            *extra, "-o", out]


def fit_args(out: Path, *extra: object, data: Path | None = None,
             target: str = "cpu_fp32") -> list:
    return ["search", "costmodel", "fit", "--data", data or DATA / "ds32.csv", "--target",
            target, *extra, "-o", out]


def genotypes(size: int = 32) -> list[str]:
    return (DATA / f"genotypes{size}.txt").read_text().split()


# ============================================================================= file helpers
def make_null_node(folder: Path, name: str = "null") -> Path:
    """A private character device equal to /dev/null (1, 3): what a command would do to
    /dev/null, without risking the machine's own (a rename onto it as root breaks the system)."""
    folder.mkdir(parents=True, exist_ok=True)
    node = folder / name
    if not node.exists():
        os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    return node


def still_null(node: Path) -> list[str]:
    st = os.lstat(node)
    if not stat.S_ISCHR(st.st_mode) or st.st_rdev != os.makedev(1, 3):
        return [f"{node.name} is no longer the character device (1, 3): mode "
                f"{stat.filemode(st.st_mode)}"]
    return []


def dev_null_ok() -> list[str]:
    st = os.stat("/dev/null")
    return [] if stat.S_ISCHR(st.st_mode) else ["/dev/null is not a character device any more"]


def partials(root: Path) -> list[str]:
    if not root.exists():
        return []
    return [str(p.relative_to(root)) for p in root.rglob("*")
            if re.search(r"\.(partial|old|group)(-wal|-shm|-journal)?$", p.name)]


def jload(path: Path):
    return json.loads(Path(path).read_text(), parse_constant=lambda s: float(s))


def count_rows(db: Path) -> int:
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return int(con.execute("SELECT COUNT(*) FROM latency").fetchone()[0])
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def store_keys(db: Path) -> list[tuple]:
    con = sqlite3.connect(f"file:{db}?immutable=1", uri=True)
    try:
        return sorted(con.execute("SELECT arch_hash, width, target FROM latency").fetchall())
    finally:
        con.close()


def run_status(folder: Path) -> str | None:
    for name in ("run.json", "regenerate.json"):
        p = folder / name
        if p.is_file():
            try:
                return jload(p).get("status")
            except (ValueError, OSError):
                return "unreadable"
    return None


def newest_ckpt(folder: Path) -> list[Path]:
    idx = sorted(folder.rglob("ckpt-*.index"),
                 key=lambda p: int(re.search(r"ckpt-(\d+)", p.name).group(1)))
    if not idx:
        return []
    stem = idx[-1].name[:-len(".index")]
    return sorted(idx[-1].parent.glob(stem + ".*"))


def weights_digest(folder: Path) -> str | None:
    files = sorted((folder / "model").glob("*.safetensors")) if (folder / "model").is_dir() \
        else []
    return sha(files[0]) if files else None


# ============================================================================= shared runs
_memo: dict[str, object] = {}


def memo(key: str, make: Callable[[], object]) -> object:
    if key not in _memo:
        _memo[key] = make()
    return _memo[key]


def train_partial() -> Path:
    """A training run stopped (resumably) at step 4: checkpoints ckpt-2 and ckpt-4."""
    def make():
        out = fresh("train_partial")
        out.rmdir()
        must(mhzoo(*train_args(out, "--max-steps", 4)), "train --max-steps 4")
        return out
    return memo("train_partial", make)


def train_reference() -> Path:
    """The same training, uninterrupted, to its end (8 steps): model/ for comparisons."""
    def make():
        out = WORK / "train_ref"
        must(mhzoo(*train_args(out)), "uninterrupted training")
        return out
    return memo("train_ref", make)


def search_reference() -> Path:
    def make():
        out = WORK / "search_ref"
        must(mhzoo(*search_args(out, steps=6)), "uninterrupted search run")
        return out
    return memo("search_ref", make)


def copy_run(src: Path, name: str) -> Path:
    dst = WORK / name
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst)
    return dst


# ============================================================================= interruption
def interrupt(c: Case, args: list, sig: int, ready: Callable[[], bool], *,
              timeout: float = 900, settle: float = 0.0) -> Result | None:
    """Start ``mhzoo ARGS``, wait for ``ready()``, send ``sig``; record what happened."""
    cmd = [MHZOO, *[str(a) for a in args]]
    t0 = time.time()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         cwd=WORK, env=ENV)
    fired = None
    try:
        while time.time() - t0 < timeout and p.poll() is None:
            if ready():
                if settle:
                    time.sleep(settle)
                fired = time.time() - t0
                if p.poll() is None:
                    p.send_signal(sig)
                break
            time.sleep(0.3)
        try:
            out, err = p.communicate(timeout=180)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            c.problems.append(f"did not stop within 180 s of {signal.Signals(sig).name}")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    name = signal.Signals(sig).name
    res = Result(cmd, p.returncode, out, err, time.time() - t0)
    when = f"{name} after {fired:.0f} s" if fired is not None else f"no {name} sent"
    c.commands.append(f"{show(cmd)}   # {when}")
    c.observed.append(f"exit {p.returncode} ({when}): "
                      f"{(res.lines() or [''])[-1][:200]}")
    c.outputs.append(f"$ {show(cmd)}   # {when}\n[exit {p.returncode}]\n{res.text[-2000:]}")
    if fired is None:
        c.problems.append(f"finished (exit {p.returncode}) before it could be interrupted"
                          if p.returncode is not None else "never became ready")
        return None
    if sig == signal.SIGTERM and p.returncode not in (-signal.SIGTERM, 128 + signal.SIGTERM, 2,
                                                      1, 0):
        c.problems.append(f"SIGTERM ended it with exit {p.returncode}")
    return res


# ============================================================================= C1 output paths
FILE_OUTPUTS = {  # command -> args builder for an output path
    "search dataset": lambda o: dataset_args(o),
    "search merge": lambda o: ["search", "merge", DATA / "lat32.sqlite", "-o", o],
    "search encode": lambda o: ["search", "encode", "multi_max", "--space", "multi_hardware",
                                "-o", o],
    "costmodel fit": lambda o: fit_args(o),
    "costmodel eval --plot": lambda o: ["search", "costmodel", "eval",
                                        DATA / "cm32" / "cpu_fp32.json", "--data",
                                        DATA / "ds32.csv", "--plot", o],
}


def has_force(cmd: str) -> bool:
    """Whether ``mhzoo CMD --help`` lists --force (asked once per command)."""
    words = cmd.replace("costmodel", "search costmodel").split()
    words = [w for w in words if not w.startswith("--")]
    return memo(f"force:{cmd}", lambda: "--force" in mhzoo(*words, "--help").out)


FOLDER_OUTPUTS = {
    "search run": lambda o: search_args(o),
    "train": lambda o: train_args(o),
    "regenerate": lambda o: ["regenerate", "multi_max", "--tiny", "--data", CIFAR,
                             "--no-progress", "-o", o],
}


def _slug(s: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", s.lower()).strip("_")


def _register_output_cases() -> None:
    for cmd, build in FILE_OUTPUTS.items():
        s = _slug(cmd)

        def device(c: Case, build=build, s=s, cmd=cmd) -> None:
            node = make_null_node(fresh(f"out_dev_{s}"))
            c.expect_error(build(node), "device|special|not a regular",
                           then=lambda: still_null(node) + dev_null_ok())
            if has_force(cmd):
                c.expect_error([*build(node), "--force"], "device|special|not a regular",
                               then=lambda: still_null(node) + dev_null_ok())
        case(f"out.{s}.device", C_OUT, f"`{cmd}` writing onto a character device (a private "
             "copy of /dev/null, major 1 minor 3)", "exit 2, one line; the node is still the "
             "same character device (also with --force)")(device)

        def link(c: Case, build=build, s=s, cmd=cmd) -> None:
            d = fresh(f"out_link_{s}")
            victim = fresh(f"out_link_{s}_outside") / "victim.txt"
            victim.write_text("keep\n")
            out = d / "out.file"
            out.symlink_to(victim)
            def kept() -> list[str]:
                bad = []
                if not out.is_symlink():
                    bad.append("the symlink was replaced")
                if victim.read_text() != "keep\n":
                    bad.append("the file the link points to was changed")
                return bad
            c.expect_error(build(out), "link", then=kept)
            if has_force(cmd):
                c.expect_error([*build(out), "--force"], "link", then=kept)
            dangling = d / "dangling.file"
            dangling.symlink_to(d / "nowhere")
            c.expect_error(build(dangling), "link", then=lambda: [] if dangling.is_symlink()
                           else ["the dangling symlink was replaced"])
        case(f"out.{s}.symlink", C_OUT, f"`{cmd}` writing onto a symlink (to a file in another "
             "folder; a dangling one)", "exit 2, one line naming the link; link and its target "
             "unchanged (refused with --force too)")(link)

        def existing(c: Case, build=build, s=s, cmd=cmd) -> None:
            d = fresh(f"out_exist_{s}")
            out = d / "notes.file"
            out.write_text("somebody's notes\n")
            c.expect_error(build(out), "exist", "--force",
                           then=lambda: [] if out.read_bytes() == b"somebody's notes\n"
                           else ["the existing file was overwritten"])
            if not has_force(cmd):
                c.problems.append(f"`{cmd}` has no --force option (the rule: an existing file "
                                  "is replaced only with --force, and the message says so)")
            else:
                c.expect_ok([*build(out), "--force"], then=lambda: [] if out.read_bytes() !=
                            b"somebody's notes\n" else ["--force did not replace the file"])
        case(f"out.{s}.existing", C_OUT, f"`{cmd}` onto an existing unrelated file, no --force",
             "exit 2 'exists ... --force', file unchanged; the command has --force")(existing)

    for cmd, build in FOLDER_OUTPUTS.items():
        s = _slug(cmd)

        def fdevice(c: Case, build=build, s=s) -> None:
            node = make_null_node(fresh(f"out_fdev_{s}"))
            c.expect_error(build(node), "", then=lambda: still_null(node) + dev_null_ok())
        case(f"out.{s}.device", C_OUT, f"`{cmd} -o` a character device",
             "exit 2, one line; node unchanged")(fdevice)

        def ffile(c: Case, build=build, s=s) -> None:
            d = fresh(f"out_ffile_{s}")
            out = d / "notes.txt"
            out.write_text("notes\n")
            c.expect_error(build(out), "", then=lambda: [] if out.is_file() and
                           out.read_text() == "notes\n" else ["the file was changed"])
        case(f"out.{s}.file", C_OUT, f"`{cmd} -o` an existing regular file",
             "exit 2, one line; file unchanged")(ffile)

    def forced(c: Case) -> None:
        d = fresh("out_forced")
        for name, build in (("dataset", lambda o: dataset_args(o)),
                            ("fit", lambda o: fit_args(o))):
            out = d / f"{name}.out"
            out.write_text("old\n")
            c.expect_ok([*build(out), "--force"], then=lambda out=out: [] if out.is_file() and
                        out.read_text() != "old\n" else ["--force did not replace the file"])
    case("out.force_replaces_regular_file", C_OUT, "`--force` replaces an existing regular file",
         "exit 0, file replaced")(forced)


# ============================================================================= C2 NaN
def _nan_models() -> Path:
    d = WORK / "cm_nan"
    if d.exists():
        return d
    d.mkdir()
    for t in ("cpu_fp32", "cpu_int8"):
        shutil.copyfile(DATA / "cm32" / f"{t}.json", d / f"{t}.json")
    data = jload(DATA / "cm32" / "cpu_fp32.json")
    data["bias"] = float("nan")
    (d / "cpu_fp32.json").write_text(json.dumps(data))  # json writes the bare NaN token
    w = WORK / "cm_infw"
    w.mkdir()
    shutil.copyfile(DATA / "cm32" / "cpu_int8.json", w / "cpu_int8.json")
    data = jload(DATA / "cm32" / "cpu_fp32.json")
    data["weights"][3] = float("inf")
    (w / "cpu_fp32.json").write_text(json.dumps(data))
    return d


def _register_nan_cases() -> None:
    @case("nan.predict_bias", C_NAN, "`costmodel predict` with a cost model whose bias is NaN",
          "exit 2, one line naming the bias (not 'nan ms', exit 0)")
    def _(c):
        d = _nan_models()
        c.expect_error(["search", "costmodel", "predict", "-m", d / "cpu_fp32.json",
                        genotypes()[0]], "bias|finite|nan")

    @case("nan.predict_weight", C_NAN, "`costmodel predict` with an infinite weight",
          "exit 2, one line")
    def _(c):
        _nan_models()
        c.expect_error(["search", "costmodel", "predict", "-m", WORK / "cm_infw" /
                        "cpu_fp32.json", genotypes()[0]], "weight|finite|inf")

    @case("nan.eval", C_NAN, "`costmodel eval` of a NaN-bias model", "exit 2, one line")
    def _(c):
        d = _nan_models()
        c.expect_error(["search", "costmodel", "eval", d / "cpu_fp32.json", "--data",
                        DATA / "ds32.csv"], "bias|finite|nan")

    @case("nan.search_run", C_NAN, "`search run` with a NaN-bias cost model",
          "exit 2 before any step (not NaN rewards for the whole search); no run folder left")
    def _(c):
        d = _nan_models()
        out = WORK / "nan_search"
        c.expect_error(search_args(out, cost=d), "bias|finite|nan",
                       then=lambda: ["a run folder was left"] if out.exists() else [])

    @case("nan.norm_factors", C_NAN, "`search run` / `predict` with --norm-factors nan / 0 / -1",
          "exit 2, one line each")
    def _(c):
        for bad in ("cpu_fp32=nan,cpu_int8=1", "cpu_fp32=0,cpu_int8=1",
                    "cpu_fp32=-1,cpu_int8=1", "cpu_fp32=inf,cpu_int8=1"):
            c.expect_error(["search", "costmodel", "predict", "-m", DATA / "cm32" /
                            "cpu_fp32.json", "-m", DATA / "cm32" / "cpu_int8.json",
                            "--norm-factors", bad, genotypes()[0]], "factor|cpu_fp32")
        out = WORK / "nan_norm_search"
        args = search_args(out)
        args[args.index("--norm-factors") + 1] = "cpu_fp32=nan,cpu_int8=0.03"
        c.expect_error(args, "factor|cpu_fp32|nan|finite")

    @case("nan.latency_target", C_NAN, "`search run --reward single:cpu_fp32 --latency-target` "
          "nan / 0 / -5", "exit 2, one line each")
    def _(c):
        for bad in ("nan", "0", "-5", "inf"):
            out = WORK / f"lt_{bad}"
            args = search_args(out, "--latency-target", bad)
            args[args.index("--reward") + 1] = "single:cpu_fp32"
            c.expect_error(args, "latency")

    @case("nan.mn_norm_target", C_NAN, "`search run --mn-norm-target nan`", "exit 2, one line")
    def _(c):
        c.expect_error(search_args(WORK / "mnt_nan", "--mn-norm-target", "nan"), "target")


# ============================================================================= C3 / C4
def _register_budget_cases() -> None:
    for bad in ("0", "0m", "-5m", "soon", "nan"):
        @case(f"budget.train_{_slug(bad) or 'neg'}", C_BUDGET, f"`train --time-budget {bad}`",
              "exit 2, one line (0 must not mean 'no budget'); no run folder")
        def _(c, bad=bad):
            out = WORK / f"budget_{_slug(bad)}"
            c.expect_error(train_args(out, "--time-budget", bad), "budget|time",
                           then=lambda: ["a run folder was left"] if out.exists() and
                           any(out.iterdir()) else [])

    for bad in ("1.5", "0", "-3", "nan", "2.0e9", "half"):
        @case(f"held.train_{_slug(bad)}", C_HELD, f"`train --held-out {bad}`",
              "exit 2, one line (1.5 must not become one image)")
        def _(c, bad=bad):
            out = WORK / f"held_{_slug(bad)}"
            args = train_args(out)
            args[args.index("--held-out") + 1] = bad
            c.expect_error(args, "held")

    @case("held.eval_1_5", C_HELD, "`eval --held-out 1.5` of a run folder", "exit 2, one line")
    def _(c):
        run = train_partial()
        c.expect_error(["eval", run, "--data", DATA / "img3", "--split", "held_out",
                        "--held-out", "1.5"], "held")

    @case("msg.search_run_small_folder", C_MSG, "`search run` on a 36-image folder (smaller "
          "than the preset's held-out split)", "exit 2, one line that names an option "
          "`search run` has (it has no --held-out)")
    def _(c):
        res = c.expect_error(search_args(WORK / "small_search", data=DATA / "img3"), "held")
        if "--held-out" in res.text:
            c.problems.append("the message tells the user to change --held-out, which "
                              "`search run` does not have")


# ============================================================================= C5 / C6 / C7
def _register_consistency_cases() -> None:
    @case("mixed.fit_csv", C_MIXED, "`costmodel fit` on a CSV mixing input sizes 32 and 64",
          "exit 2, one line naming the option that differs; no model written")
    def _(c):
        out = fresh("mixed") / "m.json"
        c.expect_error(fit_args(out, data=DATA / "mixed.csv"), "input_size",
                       then=lambda: ["a model was written"] if out.exists() else [])

    @case("mixed.fit_store", C_MIXED, "`costmodel fit` on a store mixing input sizes",
          "exit 2, one line; no model written")
    def _(c):
        out = fresh("mixed_store") / "m.json"
        c.expect_error(fit_args(out, "--space", "multi_hardware", *SPACE_OPTS,
                                data=DATA / "mixed.sqlite"), "input_size",
                       then=lambda: ["a model was written"] if out.exists() else [])

    @case("mixed.dataset", C_MIXED, "`search dataset` of a store mixing input sizes, "
          "-O input_size=32", "exit 0 with only the 32 px rows (24), or exit 2 one line")
    def _(c):
        out = fresh("mixed_ds") / "d.csv"
        res = c.run(dataset_args(out, db=DATA / "mixed.sqlite"))
        if res.rc == 0:
            rows = out.read_text().splitlines()[1:]
            sizes = {re.search(r"input_size=(\d+)", r).group(1) for r in rows}
            c.check(sizes == {"32"} and len(rows) == 24,
                    f"dataset holds input sizes {sorted(sizes)} ({len(rows)} rows)")
        else:
            c.problems += one_line_error(res)

    @case("mixed.dataset_no_option", C_MIXED, "`search dataset` of a mixed store without "
          "-O input_size", "exit 2 one line (the store holds two decodings), or exit 0 with "
          "one input size only")
    def _(c):
        out = fresh("mixed_ds2") / "d.csv"
        res = c.run(["search", "dataset", "--db", DATA / "mixed.sqlite", "--space",
                     "multi_hardware", *SPACE_OPTS, "--target", TARGETS, "-o", out])
        if res.rc == 0:
            rows = out.read_text().splitlines()[1:]
            sizes = {re.search(r"input_size=(\d+)", r).group(1) for r in rows}
            c.check(len(sizes) == 1, f"dataset mixes input sizes {sorted(sizes)} silently")
        else:
            c.problems += one_line_error(res)

    @case("mixed.eval", C_MIXED, "`costmodel eval` of a 32 px model on the mixed CSV",
          "exit 2, one line")
    def _(c):
        c.expect_error(["search", "costmodel", "eval", DATA / "cm32" / "cpu_fp32.json",
                        "--data", DATA / "mixed.csv"], "input_size")

    @case("size.predict", C_SIZE, "`costmodel predict` of a 32 px model on a 64 px genotype",
          "exit 2, one line naming input_size")
    def _(c):
        c.expect_error(["search", "costmodel", "predict", "-m", DATA / "cm32" /
                        "cpu_fp32.json", genotypes(64)[0]], "input_size")

    @case("size.predict_file", C_SIZE, "`costmodel predict --genotypes` (64 px file) with a "
          "32 px model", "exit 2, one line")
    def _(c):
        c.expect_error(["search", "costmodel", "predict", "-m", DATA / "cm32" /
                        "cpu_fp32.json", "--genotypes", DATA / "genotypes64.txt"], "input_size")

    @case("size.eval", C_SIZE, "`costmodel eval` of a 32 px model on the 64 px dataset",
          "exit 2, one line")
    def _(c):
        c.expect_error(["search", "costmodel", "eval", DATA / "cm32" / "cpu_fp32.json",
                        "--data", DATA / "ds64.csv"], "input_size")

    @case("size.search_models_differ", C_SIZE, "`search run` with cpu_fp32 at 32 px and "
          "cpu_int8 at 64 px", "exit 2, one line; no run folder")
    def _(c):
        d = fresh("cm_split")
        shutil.copyfile(DATA / "cm32" / "cpu_fp32.json", d / "cpu_fp32.json")
        shutil.copyfile(DATA / "cm64" / "cpu_int8.json", d / "cpu_int8.json")
        out = WORK / "split_search"
        c.expect_error(search_args(out, cost=d), "input_size",
                       then=lambda: ["a run folder was left"] if out.exists() else [])

    @case("size.predict_models_differ", C_SIZE, "`costmodel predict` with models of two input "
          "sizes", "exit 2, one line")
    def _(c):
        c.expect_error(["search", "costmodel", "predict", "-m", DATA / "cm32" /
                        "cpu_fp32.json", "-m", DATA / "cm64" / "cpu_int8.json",
                        genotypes()[0]], "input_size")

    @case("dup.search_run", C_DUP, "`search run` with two cost models of cpu_fp32 in the folder",
          "exit 2, one line naming both files; no run folder")
    def _(c):
        d = fresh("cm_dup")
        for t in ("cpu_fp32", "cpu_int8"):
            shutil.copyfile(DATA / "cm32" / f"{t}.json", d / f"{t}.json")
        shutil.copyfile(DATA / "cm64" / "cpu_fp32.json", d / "cpu_fp32_other.json")
        out = WORK / "dup_search"
        c.expect_error(search_args(out, cost=d), "cpu_fp32",
                       then=lambda: ["a run folder was left"] if out.exists() else [])

    @case("dup.search_run_files", C_DUP, "`search run --cost-models a.json --cost-models b.json` "
          "of one target", "exit 2, one line")
    def _(c):
        args = search_args(WORK / "dup_search2")
        i = args.index("--cost-models")
        args[i:i + 2] = ["--cost-models", DATA / "cm32" / "cpu_fp32.json", "--cost-models",
                         DATA / "cm32" / "cpu_int8.json", "--cost-models",
                         DATA / "cm64" / "cpu_fp32.json"]
        c.expect_error(args, "cpu_fp32")

    @case("dup.predict", C_DUP, "`costmodel predict -m A -m B` with A and B of one target",
          "exit 2, one line")
    def _(c):
        c.expect_error(["search", "costmodel", "predict", "-m", DATA / "cm32" /
                        "cpu_fp32.json", "-m", DATA / "cm32" / "cpu_fp32.json",
                        genotypes()[0]], "cpu_fp32")


# ============================================================================= C8 labels
def _register_label_cases() -> None:
    @case("labels.beyond_labels_txt", C_LABELS, "`train` on CIFAR-10 records (labels 0-9) "
          "with a labels.txt of 3 names", "exit 2, one line naming labels.txt; no run left "
          "'running'")
    def _(c):
        out = WORK / "labels_short"
        c.expect_error(train_args(out, "--max-steps", 1, data=DATA / "tfr_short_labels"),
                       "label", then=lambda: ["run.json left 'running'"]
                       if run_status(out) == "running" else [])

    @case("labels.single_class_train", C_LABELS, "`train` on a folder with one class",
          "exit 2, one line")
    def _(c):
        out = WORK / "one_class"
        c.expect_error(train_args(out, "--max-steps", 1, data=DATA / "img_one"), "class",
                       then=lambda: ["run.json left 'running'"]
                       if run_status(out) == "running" else [])

    @case("labels.single_class_search", C_LABELS, "`search run` on a folder with one class",
          "exit 2, one line")
    def _(c):
        c.expect_error(search_args(WORK / "one_class_search", data=DATA / "img_one"), "class")

    @case("labels.labels_file_short", C_LABELS, "`train --labels` with 2 names for 3 class "
          "folders", "exit 2, one line")
    def _(c):
        lf = fresh("labels_file") / "labels.txt"
        lf.write_text("cat\ndog\n")
        c.expect_error(train_args(WORK / "labels_file_run", "--labels", lf, "--max-steps", 1),
                       "label")

    @case("labels.num_classes", C_LABELS, "`train --num-classes 2` on 3 classes",
          "exit 2, one line")
    def _(c):
        c.expect_error(train_args(WORK / "numcls", "--num-classes", 2, "--max-steps", 1),
                       "class")


# ============================================================================= C9 / C10 checkpoints
def _garble(path: Path) -> None:
    data = bytearray(path.read_bytes())
    for i in range(0, len(data), max(1, len(data) // 64)):
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))


def _register_checkpoint_cases() -> None:
    def resumed_to_reference(c: Case, run: Path) -> None:
        ref = train_reference()
        a, b = weights_digest(ref), weights_digest(run)
        c.check(b is not None, "no model/ weights after the resume")
        c.check(a is None or b is None or a == b,
                "resumed weights differ from the uninterrupted run's")

    @case("ckpt.train_corrupt_newest_data", C_CORRUPT, "`train` resumed after its newest "
          "checkpoint's data file was garbled", "exit 0: falls back to the previous intact "
          "checkpoint (a note), final weights = the uninterrupted run's")
    def _(c):
        run = copy_run(train_partial(), "ckpt_corrupt_data")
        files = newest_ckpt(run)
        data = [f for f in files if ".data-" in f.name]
        if not data:
            raise SetupError("no checkpoint data file in the partial run")
        _garble(data[0])
        c.expect_ok(train_args(run))
        resumed_to_reference(c, run)

    @case("ckpt.train_truncated_index", C_CORRUPT, "`train` resumed after its newest "
          "checkpoint's index was truncated", "exit 0, falls back, same final weights")
    def _(c):
        run = copy_run(train_partial(), "ckpt_truncated_index")
        idx = next(f for f in newest_ckpt(run) if f.name.endswith(".index"))
        idx.write_bytes(idx.read_bytes()[:17])
        c.expect_ok(train_args(run))
        resumed_to_reference(c, run)

    @case("ckpt.train_all_corrupt", C_CORRUPT, "`train` resumed when every checkpoint is "
          "garbled", "exit 2 one line naming the checkpoint folder (or a start from step 0 "
          "that says so) — never 'internal error'")
    def _(c):
        run = copy_run(train_partial(), "ckpt_all_corrupt")
        for f in run.rglob("ckpt-*.data-*"):
            _garble(f)
        res = c.run(train_args(run))
        if res.rc == 0:
            c.check("step 0" in res.text or "from scratch" in res.text or "start" in res.text,
                    "restarted without saying so")
        else:
            c.problems += one_line_error(res, ("checkpoint",))

    @case("ckpt.train_garbled_state", C_STATE, "`train` resumed after checkpoints/checkpoint "
          "(the state file) was garbled", "exit 0 resuming from step 4 (not step 0), with a "
          "note; or exit 2 one line")
    def _(c):
        run = copy_run(train_partial(), "ckpt_garbled_state")
        state = run / "checkpoints" / "checkpoint"
        if not state.exists():
            cands = list(run.rglob("checkpoint"))
            if not cands:
                raise SetupError("no checkpoint state file")
            state = cands[0]
        state.write_text("model_checkpoint_path: {{{ garbled \x00\x01\n")
        res = c.run(train_args(run, "--max-steps", 6))
        if res.rc == 0:
            c.check(not re.search(r"step [1-3]/", res.text),
                    "re-ran steps before 4: restarted instead of resuming")
            c.check(bool(list(run.rglob("ckpt-6.index"))), "no ckpt-6 after the resume")
            if "WARNING:tensorflow" in res.text:
                c.observed.append("note: a raw TensorFlow warning line is printed")
        else:
            c.problems += one_line_error(res, ("checkpoint",))

    @case("ckpt.search_corrupt_newest", C_CORRUPT, "`search run` resumed after its newest "
          "checkpoint was garbled", "exit 0, falls back to the previous checkpoint, result = "
          "the uninterrupted search's")
    def _(c):
        out = WORK / "search_corrupt"
        must(mhzoo(*search_args(out, "--max-steps", 4, steps=6)), "search --max-steps 4")
        files = [f for f in newest_ckpt(out) if ".data-" in f.name]
        if not files:
            raise SetupError("the search run left no checkpoint at step 4")
        n_ckpts = len(list(out.rglob("ckpt-*.index")))
        _garble(files[0])
        if n_ckpts == 1:  # nothing to fall back to: a one-line error is the right answer
            c.expected = ("the run keeps one checkpoint, so: exit 2, one line naming the "
                          "damaged checkpoint")
            c.expect_error(search_args(out, steps=6), "checkpoint")
            return
        c.expect_ok(search_args(out, steps=6))
        ref = search_reference()
        try:
            a = jload(ref / "search_result.json").get("genotype_string")
            b = jload(out / "search_result.json").get("genotype_string")
            c.check(a == b, "result differs from the uninterrupted search")
        except OSError as exc:
            c.problems.append(f"no search_result.json ({exc})")

    @case("ckpt.search_garbled_state", C_STATE, "`search run` resumed after its checkpoint "
          "state file was garbled", "exit 0 resuming (not from step 0), or exit 2 one line")
    def _(c):
        out = WORK / "search_state"
        must(mhzoo(*search_args(out, "--max-steps", 4, steps=6)), "search --max-steps 4")
        states = [p for p in out.rglob("checkpoint") if p.is_file()]
        if not states:
            raise SetupError("no checkpoint state file in the search run")
        states[0].write_text("garbled {{{\n")
        res = c.run(search_args(out, steps=6))
        if res.rc == 0:
            ref = search_reference()
            a = jload(ref / "search_result.json").get("genotype_string")
            b = jload(out / "search_result.json").get("genotype_string")
            c.check(a == b, "result differs from the uninterrupted search")
            c.check("warning" not in res.text.lower() or "note" in res.text.lower(),
                    "only a TensorFlow warning about the state file")
        else:
            c.problems += one_line_error(res, ("checkpoint",))


# ============================================================================= C11-C14 messages
def _register_message_cases() -> None:
    @case("images.train_undecodable", C_IMAGES, "`train` on a folder with a broken .jpg",
          "exit 2, one line naming the file; run.json not left 'running'")
    def _(c):
        out = WORK / "bad_images"
        c.expect_error(train_args(out, "--max-steps", 8, data=DATA / "img_bad"),
                       "05_broken.jpg", then=lambda: ["run.json left 'running'"]
                       if run_status(out) == "running" else [])

    @case("images.train_empty_png", C_IMAGES, "`train` on a folder with a zero-byte .png",
          "exit 2, one line naming the file")
    def _(c):
        d = WORK / "img_empty"
        if d.exists():
            shutil.rmtree(d)
        shutil.copytree(DATA / "img3", d)
        (d / "train" / "frog" / "zz_empty.png").write_bytes(b"")
        out = WORK / "empty_png"
        c.expect_error(train_args(out, "--max-steps", 8, data=d), "zz_empty.png",
                       then=lambda: ["run.json left 'running'"]
                       if run_status(out) == "running" else [])

    @case("model.train_unknown", C_MODEL, "`train nosuchmodel`", "exit 2, one line saying the "
          "model is unknown (not a held-out problem)")
    def _(c):
        res = c.expect_error(train_args(WORK / "nosuch", name="nosuchmodel"), "nosuchmodel")
        if "held" in res.text.lower():
            c.problems.append("reported as a held-out problem")

    @case("model.train_unknown_spec_file", C_MODEL, "`train missing_spec.json` (no such file)",
          "exit 2, one line")
    def _(c):
        c.expect_error(train_args(WORK / "nospec", name=str(WORK / "missing_spec.json")),
                       "missing_spec")

    @case("model.encode_unknown", C_MODEL, "`search encode nosuchmodel`", "exit 2, one line")
    def _(c):
        c.expect_error(["search", "encode", "nosuchmodel", "--space", "multi_hardware"],
                       "nosuchmodel")

    @case("model.regenerate_unknown", C_MODEL, "`regenerate multi_mid`", "exit 2, one line")
    def _(c):
        c.expect_error(["regenerate", "multi_mid", "--tiny", "--data", CIFAR, "-o",
                        WORK / "regen_unknown"], "multi_mid")

    @case("model.space_unknown", C_MODEL, "`search run --space nope` / `collect --space nope`",
          "exit 2, one line")
    def _(c):
        args = search_args(WORK / "space_nope")
        args[args.index("-O"):args.index("-O") + 2] = ["--space", "nope"]
        c.expect_error(args, "nope")
        c.expect_error(["search", "collect", "--space", "nope", "--target", "cpu_fp32",
                        "--n", 1, "--db", WORK / "nope.sqlite"], "nope")

    @case("recipe.train_lr", C_RECIPE, "`train` resumed with another --lr",
          "exit 2, one short line naming the field (lr) and both values")
    def _(c):
        run = copy_run(train_partial(), "recipe_lr")
        res = c.expect_error(train_args(run, "--lr", 0.77), "lr|learning")
        c.check(len(res.text) < 300, f"message is {len(res.text)} characters")
        c.check("0.77" in res.text, "the new value is not named")

    @case("recipe.train_batch", C_RECIPE, "`train` resumed with another --batch-size",
          "exit 2, one short line naming batch")
    def _(c):
        run = copy_run(train_partial(), "recipe_batch")
        args = train_args(run)
        args[args.index("--batch-size") + 1] = 4
        res = c.expect_error(args, "batch")
        c.check(len(res.text) < 300, f"message is {len(res.text)} characters")

    @case("recipe.search_seed", C_RECIPE, "`search run` resumed with another --seed",
          "exit 2, one short line naming the seed")
    def _(c):
        out = WORK / "search_recipe"
        must(mhzoo(*search_args(out, "--max-steps", 2, steps=6)), "search --max-steps 2")
        res = c.expect_error(search_args(out, "--seed", 5, steps=6), "seed")
        c.check(len(res.text) < 300, f"message is {len(res.text)} characters")

    def tf_case(cid: str, title: str, make_args: Callable[[], list], needle: str = "") -> None:
        @case(f"tflog.{cid}", C_TFLOG, title, "exit 2, exactly one line: no TensorFlow / absl "
              "log line before it")
        def _(c):
            c.expect_error(make_args(), needle)

    def garbage_tfr() -> list:
        d = fresh("garbage_tfr")
        (d / "train-00000-of-00001.tfrecord").write_bytes(os.urandom(4096))
        return search_args(WORK / "garbage_search", data=d)

    tf_case("search_garbage_tfrecord", "`search run` on a garbage .tfrecord shard", garbage_tfr,
            "tfrecord")

    tf_case("search_no_data", "`search run --data` a missing folder",
            lambda: search_args(WORK / "nodata_search", data=WORK / "missing"), "missing")
    tf_case("search_tpu_no_name", "`search run --strategy tpu` without --tpu",
            lambda: search_args(WORK / "tpu_search", "--strategy", "tpu"), "tpu")
    tf_case("search_multi_worker", "`search run --strategy multi_worker` without TF_CONFIG",
            lambda: search_args(WORK / "mw_search", "--strategy", "multi_worker"), "")
    tf_case("search_bad_images", "`search run` on a folder with a broken .jpg (and too few "
            "images)", lambda: search_args(WORK / "badimg_search", data=DATA / "img_bad"), "")
    tf_case("train_garbage_tfrecord", "`train` on a garbage .tfrecord shard",
            lambda: (garbage_tfr(), train_args(WORK / "garbage_train",
                                               data=WORK / "garbage_tfr"))[1], "tfrecord")


# ============================================================================= C15-C17 stores
RO_MOUNT = WORK / "ro_mount"


class ReadOnlyFolder:
    """A read-only view of ``src`` (a read-only bind mount: root may write anywhere else)."""

    def __init__(self, src: Path):
        self.src = src

    def __enter__(self) -> Path:
        RO_MOUNT.mkdir(parents=True, exist_ok=True)
        for cmd in (["mount", "--bind", str(self.src), str(RO_MOUNT)],
                    ["mount", "-o", "remount,bind,ro", str(RO_MOUNT)]):
            p = subprocess.run(cmd, capture_output=True, text=True)
            if p.returncode != 0:
                subprocess.run(["umount", str(RO_MOUNT)], capture_output=True)
                raise SetupError(f"{' '.join(cmd)}: {p.stderr.strip()}")
        probe = RO_MOUNT / ".probe"
        try:
            probe.write_text("x")
            probe.unlink()
            raise SetupError("the read-only mount is writable")
        except OSError:
            pass
        return RO_MOUNT

    def __exit__(self, *exc) -> None:
        subprocess.run(["umount", str(RO_MOUNT)], capture_output=True)


def _dead_writer_store(dst: Path) -> None:
    """A store whose last rows are only in the -wal of a SIGKILLed `search collect`."""
    db = dst / "lat.sqlite"
    p = subprocess.Popen([MHZOO, "search", "collect", "--space", "multi_hardware",
                          "--input-size", "32", *SPACE_OPTS, "--target", TARGETS, "--n", "200",
                          "--seed", "7", "--db", str(db), "--no-progress"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV, cwd=WORK)
    t0 = time.time()
    while p.poll() is None and time.time() - t0 < 300 and count_rows(db) < 6:
        time.sleep(0.2)
    p.send_signal(signal.SIGKILL)
    p.wait()
    if not Path(f"{db}-wal").exists():
        raise SetupError("the killed collect left no -wal")


def _register_store_cases() -> None:
    @case("rowal.dataset_clean", C_ROWAL, "`search dataset` of a (WAL-mode) store in a "
          "read-only folder", "exit 0, 24 rows")
    def _(c):
        src = fresh("ro_src")
        shutil.copyfile(DATA / "lat32.sqlite", src / "lat32.sqlite")
        c.check(header_mode(src / "lat32.sqlite") == "wal", "fixture store is not in WAL mode")
        out = fresh("ro_out") / "d.csv"
        with ReadOnlyFolder(src) as ro:
            c.expect_ok(dataset_args(out, db=ro / "lat32.sqlite"))
        if out.exists():
            c.check(len(out.read_text().splitlines()) == 25, "not 24 rows")

    @case("rowal.fit_merge_clean", C_ROWAL, "`costmodel fit --data` and `search merge` of a "
          "store in a read-only folder", "exit 0 each")
    def _(c):
        src = fresh("ro_src2")
        shutil.copyfile(DATA / "lat32.sqlite", src / "lat32.sqlite")
        out = fresh("ro_out2")
        with ReadOnlyFolder(src) as ro:
            c.expect_ok(fit_args(out / "m.json", "--space", "multi_hardware", *SPACE_OPTS,
                                 "-O", "input_size=32", data=ro / "lat32.sqlite"))
            c.expect_ok(["search", "merge", ro / "lat32.sqlite", "-o", out / "m.sqlite"])

    @case("rowal.dataset_dead_writer", C_ROWAL, "`search dataset` of a store in a read-only "
          "folder whose last rows are in a killed collector's -wal",
          "exit 0 with every row the -wal holds")
    def _(c):
        src = fresh("ro_src3")
        _dead_writer_store(src)
        rows = None
        out = fresh("ro_out3") / "d.csv"
        with ReadOnlyFolder(src) as ro:
            c.expect_ok(dataset_args(out, db=ro / "lat.sqlite"))
        probe = fresh("ro_probe")
        for f in src.iterdir():
            shutil.copyfile(f, probe / f.name)
        rows = count_rows(probe / "lat.sqlite")  # SQLite's own recovery of a copy
        if out.exists():
            got = len(out.read_text().splitlines()) - 1
            c.check(got * 2 == rows, f"dataset has {got} architectures, the store {rows} rows "
                    "(2 targets each)")

    @case("refused.collect_foreign", C_REFUSED, "`search collect --db` an SQLite file of "
          "something else (rollback journal)", "exit 2, one line; file byte-identical, still "
          "not WAL, no -wal/-shm")
    def _(c):
        d = fresh("refused")
        db = d / "other.sqlite"
        con = sqlite3.connect(db)
        con.executescript("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
        con.close()
        before = sha(db)
        c.expect_error(["search", "collect", "--space", "multi_hardware", "--input-size", 32,
                        *SPACE_OPTS, "--target", "cpu_fp32", "--n", 2, "--db", db,
                        "--no-progress"], "",
                       then=lambda: ([] if sha(db) == before else ["file changed"])
                       + ([] if header_mode(db) == "rollback" else ["switched to WAL"])
                       + [f"left {s}" for s in sidecars(db)])

    @case("refused.collect_other_schema", C_REFUSED, "`search collect --db` a results store of "
          "another schema version", "exit 2, one line naming the schema; file unchanged")
    def _(c):
        d = fresh("refused_schema")
        db = d / "v99.sqlite"
        shutil.copyfile(DATA / "lat32.sqlite", db)
        con = sqlite3.connect(db)
        con.execute("PRAGMA journal_mode=DELETE")
        con.execute("UPDATE meta SET value='99' WHERE key='schema'")
        con.commit()
        con.close()
        before = sha(db)
        c.expect_error(["search", "collect", "--space", "multi_hardware", "--input-size", 32,
                        *SPACE_OPTS, "--target", "cpu_fp32", "--n", 2, "--db", db,
                        "--no-progress"], "schema",
                       then=lambda: ([] if sha(db) == before else ["file changed"])
                       + ([] if header_mode(db) == "rollback" else ["switched to WAL"])
                       + [f"left {s}" for s in sidecars(db)])

    @case("refused.sources", C_REFUSED, "`search dataset` / `search merge` / `costmodel fit` of "
          "a foreign SQLite file and of a text file", "exit 2 each; files unchanged")
    def _(c):
        d = fresh("refused_src")
        db = d / "other.sqlite"
        con = sqlite3.connect(db)
        con.executescript("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
        con.close()
        txt = d / "notes.sqlite"
        txt.write_text("not a database\n" * 50)
        for src in (db, txt):
            before = sha(src)
            def unchanged(src=src, before=before):
                return (([] if sha(src) == before else
                                     ["file changed"]) + [f"left {s}" for s in sidecars(src)])
            c.expect_error(dataset_args(d / "x.csv", db=src), "", then=unchanged)
            c.expect_error(["search", "merge", src, "-o", d / "m.sqlite"], "", then=unchanged)
            c.expect_error(fit_args(d / "m.json", "--space", "multi_hardware", data=src), "",
                           then=unchanged)

    @case("refused.device_db", C_REFUSED, "`search collect --db` a character device",
          "exit 2; node unchanged; no null-wal / null-journal beside it")
    def _(c):
        d = fresh("refused_dev")
        node = make_null_node(d)
        c.expect_error(["search", "collect", "--space", "multi_hardware", "--input-size", 32,
                        *SPACE_OPTS, "--target", "cpu_fp32", "--n", 2, "--db", node,
                        "--no-progress"], "",
                       then=lambda: still_null(node) + [f"left {s}" for s in sidecars(node)])

    def clean_sources() -> tuple[Path, Path, Path]:
        d = fresh("sidecars")
        a, b = d / "a.sqlite", d / "b.sqlite"
        shutil.copyfile(DATA / "lat32.sqlite", a)
        shutil.copyfile(DATA / "lat64.sqlite", b)
        return d, a, b

    @case("sidecar.dataset", C_SIDECAR, "`search dataset --db` leaves nothing beside the store",
          "exit 0; no a.sqlite-wal / -shm")
    def _(c):
        d, a, _ = clean_sources()
        c.expect_ok(dataset_args(d / "x.csv", db=a),
                    then=lambda: [f"left a.sqlite{s}" for s in sidecars(a)])

    @case("sidecar.merge", C_SIDECAR, "`search merge a b -o m` leaves nothing beside a, b, m",
          "exit 0; no -wal / -shm anywhere")
    def _(c):
        d, a, b = clean_sources()
        m = d / "m.sqlite"
        c.expect_ok(["search", "merge", a, b, "-o", m],
                    then=lambda: [f"left {p.name}{s}" for p in (a, b, m) for s in sidecars(p)]
                    + [f"left {x}" for x in partials(d)])

    @case("sidecar.fit_eval", C_SIDECAR, "`costmodel fit` / `eval --data store` leave nothing "
          "beside the store", "exit 0; no -wal / -shm")
    def _(c):
        d, a, _ = clean_sources()
        c.expect_ok(fit_args(d / "m.json", "--space", "multi_hardware", *SPACE_OPTS, "-O",
                             "input_size=32", data=a),
                    then=lambda: [f"left a.sqlite{s}" for s in sidecars(a)])
        if (d / "m.json").exists():
            c.expect_ok(["search", "costmodel", "eval", d / "m.json", "--data", a],
                        then=lambda: [f"left a.sqlite{s}" for s in sidecars(a)])


# ============================================================================= interruptions
def _register_kill_cases() -> None:
    def collect_args(db: Path) -> list:
        return ["search", "collect", "--space", "multi_hardware", "--input-size", 32,
                *SPACE_OPTS, "--target", TARGETS, "--n", 40, "--seed", 3, "--db", db,
                "--no-progress"]

    for sig in (signal.SIGKILL, signal.SIGTERM):
        name = sig.name

        @case(f"kill.collect_{name.lower()}", C_KILL, f"{name} of `search collect` after a few "
              "rows, then the same command", "resume exit 0; 80 rows, no duplicates, same keys "
              "as an uninterrupted collection; no temporaries")
        def _(c, sig=sig):
            d = fresh(f"kill_collect_{sig.name}")
            db = d / "lat.sqlite"
            interrupt(c, collect_args(db), sig, lambda: count_rows(db) >= 6)
            c.expect_ok(collect_args(db))
            ref = WORK / "collect_ref.sqlite"
            if not ref.exists():
                must(mhzoo(*collect_args(ref)), "uninterrupted collect")
            c.check(store_keys(db) == store_keys(ref),
                    "rows differ from an uninterrupted collection")
            c.check(not partials(d), f"temporaries left: {partials(d)}")

        @case(f"kill.train_{name.lower()}", C_KILL, f"{name} of `train` after its first "
              "checkpoint, then the same command", "resume exit 0; final weights equal the "
              "uninterrupted run's; no temporaries")
        def _(c, sig=sig):
            out = WORK / f"kill_train_{sig.name}"
            interrupt(c, train_args(out), sig,
                      lambda: bool(list(out.rglob("ckpt-2.index"))), settle=2.0)
            c.expect_ok(train_args(out))
            ref = train_reference()
            a, b = weights_digest(ref), weights_digest(out)
            c.check(b is not None, "no model/ after the resume")
            c.check(a == b, "final weights differ from the uninterrupted run's")
            c.check(run_status(out) not in ("running", None), f"run.json status "
                    f"{run_status(out)!r}")
            c.check(not partials(out), f"temporaries left: {partials(out)}")

        @case(f"kill.search_{name.lower()}", C_KILL, f"{name} of `search run` mid-search, then "
              "the same command", "resume exit 0; search_result.json equals the uninterrupted "
              "search's; no temporaries")
        def _(c, sig=sig):
            out = WORK / f"kill_search_{sig.name}"
            seen: dict[str, float] = {}

            def ready() -> bool:
                if list(out.rglob("ckpt-*.index")):
                    return True
                if (out / "run.json").exists():
                    seen.setdefault("t", time.time())
                    return time.time() - seen["t"] > 40
                return False
            interrupt(c, search_args(out, steps=6), sig, ready)
            c.expect_ok(search_args(out, steps=6))
            ref = search_reference()
            try:
                ra, rb = jload(ref / "search_result.json"), jload(out / "search_result.json")
                c.check(ra.get("genotype_string") == rb.get("genotype_string"),
                        "searched genotype differs from the uninterrupted search")
                c.check(ra.get("predicted") == rb.get("predicted"),
                        "predicted latencies differ")
            except OSError as exc:
                c.problems.append(f"no search_result.json: {exc}")
            c.check(not partials(out), f"temporaries left: {partials(out)}")

        @case(f"kill.regenerate_{name.lower()}", C_KILL, f"{name} of `regenerate multi_max "
              "--tiny` during its search / training stage, then the same command",
              "resume exit 0; every stage's output present; regenerate.json done; no "
              "temporaries")
        def _(c, sig=sig):
            out = WORK / f"kill_regen_{sig.name}"
            args = ["regenerate", "multi_max", "--tiny", "--data", CIFAR, "--no-progress",
                    "-o", out]
            stage = "search" if sig == signal.SIGKILL else "train"
            interrupt(c, args, sig, lambda: (out / stage / "run.json").exists(), settle=8.0,
                      timeout=1500)
            c.expect_ok(args)
            for name_ in ("costmodels/cpu_fp32.json", "search/search_result.json",
                          "export/model_int8.tflite", "report.json"):
                c.check((out / name_).exists(), f"{name_} missing after the resume")
            c.check(run_status(out) != "running", "regenerate.json says 'running'")
            for sub in ("search", "train"):  # the stages' own run folders are finished
                c.check(run_status(out / sub) not in ("running", None),
                        f"{sub}/run.json status {run_status(out / sub)!r}")
            c.check(not partials(out), f"temporaries left: {partials(out)}")


def register_all() -> None:
    _register_output_cases()
    _register_nan_cases()
    _register_budget_cases()
    _register_consistency_cases()
    _register_label_cases()
    _register_message_cases()
    _register_store_cases()
    _register_checkpoint_cases()
    _register_kill_cases()
