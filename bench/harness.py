"""What bench/train-vs-reference and bench/decode-vs-reference share: running lmlab and the
Python reference as child processes, giving both the same BLAS kernels, the machine header, and
medians.

Not a command of its own; the two benchmarks import it from their folder.
"""

import contextlib
import datetime
import fcntl
import json
import os
import platform
import re
import resource
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "bench" / "reference" / "gpt.py"

# lmlab's byte tokenizer: ids 0-255 are bytes, then pad, bos, eos, mask and 100 sentinels
# (framework/include/lmlab/tokenizer.hpp). Its models embed and predict all of them, so the
# reference gets the same vocabulary; each pair's parameter counts are compared to confirm it.
LMLAB_BYTE_VOCAB = 360


def log(text):
    """Progress goes to stderr; the report alone to stdout."""
    print(text, file=sys.stderr, flush=True)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def report_on_interrupt():
    """Ctrl-C or SIGTERM ends the rounds, and the report covers those that finished."""
    signal.signal(signal.SIGTERM, _interrupt)


def finished(results):
    """The cases of `results` (case -> side -> runs) in which every side has run at least once."""
    done = {case: sides for case, sides in results.items() if all(sides.values())}
    if not done:
        raise SystemExit("no case finished on every side: nothing to report")
    return done


def lmlab_binary(build_dir):
    path = Path(build_dir or os.environ.get("LMLAB_BUILD_DIR") or "build")
    if not path.is_absolute():
        path = ROOT / path
    binary = path / "bin" / "lmlab"
    if not os.access(binary, os.X_OK):
        raise SystemExit(f"no lmlab program at {binary}: build it (cmake --build build --target lmlab) "
                         "or give --build-dir")
    return binary


def default_threads():
    return len(os.sched_getaffinity(0))


# --lock FILE: held (flock) around each timed process, so that timings of several people or
# agents sharing one machine take turns rather than overlap; between two processes others may run.
LOCK = os.environ.get("LMLAB_BENCH_LOCK", "")


def add_lock_option(parser):
    parser.add_argument("--lock", default=LOCK, help="a file to hold (flock) around each timed process, shared "
                        "with whatever else times on this machine (default: $LMLAB_BENCH_LOCK; none)")


@contextlib.contextmanager
def held(path):
    if not path:
        yield
        return
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


# A timed process during which other processes used more than this share of the machine's CPU
# time was disturbed: it is run again (up to --retries times) and the least disturbed kept.
DISTURBED = 0.05
RETRY_PAUSE_S = 30


def busy_cpu_seconds():
    """CPU time the whole machine has spent busy since boot (every process, the kernel, and
    time the hypervisor stole), from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(command, env=None, what="", timed=True):
    """Runs `command` to its end (under --lock when `timed`); returns what it printed (stdout and
    stderr together) and the share of the machine's CPU time that other processes used meanwhile
    (0: it had the machine to itself). A failure stops the benchmark with the tail of its output."""
    with held(LOCK if timed else ""):
        busy, own, start = busy_cpu_seconds(), children_cpu_seconds(), time.monotonic()
        done = subprocess.run([str(c) for c in command], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, errors="replace")
        wall = time.monotonic() - start
        others = (busy_cpu_seconds() - busy) - (children_cpu_seconds() - own)
    if done.returncode != 0:
        tail = "\n".join(done.stdout.splitlines()[-20:])
        raise SystemExit(f"{what or command[0]} failed (exit {done.returncode}):\n  {' '.join(map(str, command))}\n{tail}")
    return done.stdout, max(0.0, others / max(wall * (os.cpu_count() or 1), 1e-9))


def least_disturbed(run_once, retries):
    """Calls `run_once` (a timed process; returns a dict with "others") until one run was not
    disturbed, at most 1 + `retries` times; returns the least disturbed result."""
    best = None
    for attempt in range(1 + retries):
        result = run_once()
        if best is None or result["others"] < best["others"]:
            best = result
        if result["others"] <= DISTURBED:
            break
        if attempt == retries:
            log(f"  disturbed: other processes used {result['others']:.0%} of the CPUs; keeping the least disturbed run")
            break
        # A build or a test run next door lasts minutes: wait longer before each new try.
        pause = RETRY_PAUSE_S * (attempt + 1)
        log(f"  disturbed: other processes used {result['others']:.0%} of the CPUs; again in {pause} s")
        time.sleep(pause)
    return best


def add_retries_option(parser):
    parser.add_argument("--retries", type=int, default=3, help="runs again a timed process during which other "
                        f"processes used more than {round(DISTURBED * 100)}%% of the CPUs, up to this many times after pauses "
                        f"of {RETRY_PAUSE_S} s, {2 * RETRY_PAUSE_S} s, ..., and keeps the least disturbed (default 3)")


def run_reference(python, mode, options, env):
    """One bench/reference/gpt.py process; returns its JSON result."""
    out, others = run([python, REFERENCE, mode, *options], env=env, what="the Python reference")
    for line in reversed(out.splitlines()):
        if line.startswith("{"):
            return dict(json.loads(line), others=others)
    raise SystemExit(f"the Python reference printed no result:\n{out[-2000:]}")


# --- BLAS kernels -------------------------------------------------------------------------

BLAS_LINE = re.compile(r"^BLAS: (.+)$", re.MULTILINE)
KERNELS = re.compile(r"OpenBLAS [^,]+, (\S+) kernels")


def blas_of(lmlab_output):
    """The "BLAS: ..." line lmlab printed, or "" when it printed none."""
    found = BLAS_LINE.search(lmlab_output)
    return found.group(1).strip() if found else ""


def switched_core(blas):
    """The OpenBLAS core lmlab computes on ("Cooperlake" from "OpenBLAS 0.3.21, Cooperlake
    kernels (switched: ...)"); "" when lmlab reports no OpenBLAS. The reference is given the
    same core whether or not lmlab switched: naming OpenBLAS's own choice changes nothing."""
    found = KERNELS.search(blas)
    return found.group(1) if found else ""


def reference_env(core, default_blas=False):
    """The reference's environment: lmlab's kernels through OPENBLAS_CORETYPE (which OpenBLAS
    reads when it loads), or, with `default_blas`, OpenBLAS's own choice as a researcher gets it
    out of the box. An OPENBLAS_CORETYPE the user set reaches both sides unchanged (lmlab keeps it
    too), except for the out-of-the-box column."""
    env = dict(os.environ)
    if default_blas:
        env.pop("OPENBLAS_CORETYPE", None)
    elif core and "OPENBLAS_CORETYPE" not in env:
        env["OPENBLAS_CORETYPE"] = core
    return env


def same_kernels(lmlab_blas, reference_blas):
    """True when the two BLAS descriptions name the same library and kernels (lmlab's adds how
    they were chosen, in parentheses)."""
    return lmlab_blas.split(" (")[0].strip() == reference_blas.strip()


# --- the report ---------------------------------------------------------------------------

def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_topology():
    """'N CPUs (K available to this process), T thread(s) per core', as far as Linux says."""
    per_core = ""
    try:
        out = subprocess.run(["lscpu"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
        found = re.search(r"^Thread\(s\) per core:\s*(\d+)", out, re.MULTILINE)
        if found:
            per_core = f", {found.group(1)} thread(s) per core"
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs ({default_threads()} available to this process){per_core}"


def git_commit():
    try:
        commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout.strip()
        return f"{commit}{' (uncommitted changes)' if dirty else ''}" if commit else "unknown"
    except OSError:
        return "unknown"


def load_average():
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def start(threads):
    """What the report's header says of the moment the benchmark started: date, commit and load
    average (the commit may move while it runs). Warns when the machine is busy already."""
    facts = {"date": datetime.datetime.now().astimezone(), "commit": git_commit(), "load": load_average()}
    try:
        load = float(facts["load"].split()[0])
    except (ValueError, IndexError):
        load = 0.0
    if load > 0.5:
        log(f"warning: load average {load:.2f} before the first run; other processes share the "
            f"{os.cpu_count()} CPUs this benchmark uses {threads} of (runs they disturb are repeated)")
    return facts


def header(title, started, facts):
    """The report's opening lines: what ran, where and on what."""
    lines = [f"# {title}", f"command: {' '.join(sys.argv)}", f"date: {started['date']:%Y-%m-%d %H:%M %Z}",
             f"machine: {cpu_model()}; {cpu_topology()}; {platform.system()} {platform.release()}"]
    lines += [f"{name}: {value}" for name, value in facts]
    lines.append(f"load average: {started['load']} at the start, {load_average()} at the end")
    lines.append(f"git commit: {started['commit']} at the start")
    return "\n".join(lines)


def spread(values):
    """'median (min-max)' of positive rates, or '-' for none."""
    if not values:
        return "-"
    return f"{statistics.median(values):,.0f} ({min(values):,.0f}-{max(values):,.0f})"


def worst(results):
    """The largest share of the CPUs that other processes took during any of `results`."""
    return f"{max(r['others'] for r in results):.0%}" if results else "-"


def ratio(numerator, denominator):
    if not numerator or not denominator:
        return "-"
    return f"{statistics.median(numerator) / statistics.median(denominator):.2f}"


def table(head, rows):
    """A Markdown table, ready to paste into docs/performance.md."""
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    fmt = lambda r: "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |"
    return "\n".join([fmt(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(fmt, rows)])
