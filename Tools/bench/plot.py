"""Turn a benchmark report (bench.py --json FILE) into SVG plots.

    python Tools/bench/plot.py REPORT.json OUTPUT_DIR

writes, for what the report holds:

* loop_benchmarks.svg: each loop benchmark's ops/s on every loop, over
  uvloop's (asyncio's when uvloop is absent; the line at 1x), on a log
  scale;
* servers_requests.svg, servers_cpu.svg: each server cell's requests/s and
  CPU time per request on every loop, over uvloop's;
* servers_latency.svg: each server cell's median and 99th percentile
  latency, in microseconds, on a log scale;
* servers_faults.svg: each server cell's minor page faults per request.

It needs matplotlib (Tools/bench/requirements.txt has it; `make bench-plots`
runs it in the bench venv).  The SVGs carry no date, so the same report
gives the same files.
"""

import json
import math
import os
import sys

import matplotlib

matplotlib.use("svg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

PLOTS = ("loop_benchmarks.svg", "servers_requests.svg", "servers_cpu.svg",
         "servers_latency.svg", "servers_faults.svg")

# One colour per loop, the same in every plot.
COLOURS = {
    "aioev": "#d62728",
    "aioev (asyncio Task)": "#ff9896",
    "asyncio": "#7f7f7f",
    "uvloop": "#1f77b4",
    "rloop": "#2ca02c",
    "zloop": "#9467bd",
    "C libev": "#000000",
}


def loop_names(rows):
    """The loops of rows (benchmark -> {loop -> figures}), without the ratio
    entries: the known ones in the order of COLOURS, then the others."""
    names = []
    for row in rows.values():
        for name, entry in row.items():
            if isinstance(entry, dict) and "/" not in name and name not in names:
                names.append(name)
    order = list(COLOURS)
    return sorted(names, key=lambda name: order.index(name) if name in order else len(order))


def baseline(names):
    for name in ("uvloop", "asyncio"):
        if name in names:
            return name
    return None


def grouped_bars(path, title, xlabel, benchmarks, names, value, log=False, reference=None):
    """A horizontal bar per loop for each benchmark; value(benchmark, name)
    gives the bar's length, or None for no bar."""
    shown = [b for b in benchmarks if any(value(b, n) is not None for n in names)]
    if not shown:
        return False
    height = 0.8 / len(names)
    figure, axes = plt.subplots(figsize=(10, 1 + 0.2 * len(names) * len(shown)))
    for index, name in enumerate(names):
        positions, lengths = [], []
        for row, benchmark in enumerate(shown):
            figure_value = value(benchmark, name)
            if figure_value is not None:
                positions.append(row + (index - (len(names) - 1) / 2) * height)
                lengths.append(figure_value)
        if reference is None:
            axes.barh(positions, lengths, height=height, label=name,
                      color=COLOURS.get(name))
        else:  # a ratio: the bar runs from the reference to the figure
            axes.barh(positions, [length - reference for length in lengths],
                      left=reference, height=height, label=name, color=COLOURS.get(name))
    axes.set_yticks(range(len(shown)), shown)
    axes.invert_yaxis()
    if log:
        axes.set_xscale("log")
    if reference is not None:  # a ratio: ticks read "2x"
        axes.axvline(reference, color="black", linewidth=0.8)
        axes.xaxis.set_major_formatter(FuncFormatter(times))
        axes.xaxis.set_minor_formatter(FuncFormatter(times))
    axes.set_xlabel(xlabel)
    axes.set_title(title)
    axes.grid(axis="x", which="both", linewidth=0.3)
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")
    figure.tight_layout()
    figure.savefig(path, metadata={"Date": None})
    plt.close(figure)
    return True


def times(x, _position):
    """A ratio's tick label, "2x"; on a log scale only 1, 2, 3 and 5 times a
    power of ten are labelled, so that the labels do not run together."""
    if x <= 0:
        return ""
    mantissa = round(x / 10 ** math.floor(math.log10(x)), 6)
    return f"{x:.2g}x" if mantissa in (1, 2, 3, 5) else ""


def relative(rows, metric, names, base):
    """value(benchmark, name): name's metric over base's in that row."""

    def value(benchmark, name):
        row = rows[benchmark]
        top = row.get(name, {}).get(metric)
        bottom = row.get(base, {}).get(metric)
        if top is None or not bottom:
            return None
        return top / bottom

    return value


def absolute(rows, metric):
    def value(benchmark, name):
        return rows[benchmark].get(name, {}).get(metric)

    return value


def plot(report, directory):
    """Write the plots of report into directory; returns their paths."""
    plt.rcParams["svg.hashsalt"] = "aioev-bench"  # stable ids inside the SVG
    os.makedirs(directory, exist_ok=True)
    written = []

    def out(name):
        path = os.path.join(directory, name)
        written.append(path)
        return path

    loops_rows = report.get("benchmarks", {})
    names = loop_names(loops_rows)
    base = baseline(names)
    if loops_rows and base:
        others = [name for name in names if name != base]  # base is the line at 1x
        if not grouped_bars(out("loop_benchmarks.svg"),
                            f"Loop benchmarks: ops/s over {base}'s (higher is better)",
                            f"x {base}", list(loops_rows), others,
                            relative(loops_rows, "ops_per_s", names, base),
                            log=True, reference=1):
            written.pop()
    server_rows = report.get("servers", {}).get("benchmarks", {})
    names = loop_names(server_rows)
    base = baseline(names)
    benchmarks = list(server_rows)
    others = [name for name in names if name != base]
    plots = []
    if base:
        plots += [
            ("servers_requests.svg",
             f"Servers: requests/s over {base}'s (higher is better)", f"x {base}",
             relative(server_rows, "requests_per_s", names, base), True, 1, others),
            ("servers_cpu.svg",
             f"Servers: CPU per request over {base}'s (lower is better)", f"x {base}",
             relative(server_rows, "cpu_us_per_request", names, base), True, 1, others),
        ]
    plots += [
        ("servers_latency.svg", "Servers: 99th percentile latency (lower is better)",
         "microseconds", absolute(server_rows, "p99_us"), True, None, names),
        ("servers_faults.svg", "Servers: minor page faults per request (lower is better)",
         "faults per request", absolute(server_rows, "minflt_per_request"), False, None,
         names),
    ]
    for name, title, xlabel, value, log, reference, shown in plots:
        if not grouped_bars(out(name), title, xlabel, benchmarks, shown, value,
                            log=log, reference=reference):
            written.pop()
    # A plot that this report has no data for must not survive from another.
    for name in PLOTS:
        path = os.path.join(directory, name)
        if path not in written and os.path.exists(path):
            os.unlink(path)
    return written


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    with open(argv[0]) as file:
        report = json.load(file)
    for path in plot(report, argv[1]):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
