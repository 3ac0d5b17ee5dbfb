"""Plots of one benchmark run, drawn with matplotlib as PNG and SVG beside the
markdown report (report.py links them):

- QPS vs recall@10 per data set: mnemo's strategies (in process: exact f32,
  int8 first pass, HNSW over ef_search; over HTTP: SQLite and Postgres mode at
  concurrency 1) and every peer (HNSW peers over their ef sweep), one client.
- Search latency (p50 and p99, wrk) vs rows for the scale table, per backend
  and concurrency.
"""
import os

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

SCAN_SET = {"npc": "npc", "recall": "recall-1536"}  # the in-process scan on the vectors served over HTTP


def _save(fig, out_dir, name):
    for ext in ("png", "svg"):
        fig.savefig(os.path.join(out_dir, f"{name}.{ext}"), dpi=120, bbox_inches="tight")
    plt.close(fig)


def _qps_recall_points(rep, data):
    """(label, group, [(recall, qps), ...]) per series; a series of several points is a sweep."""
    series = []
    scan = [r for r in rep.scan if r["set"] == SCAN_SET[data] and r["ms_per_query"]]
    for r in scan:
        if not r["method"].startswith("hnsw"):
            point = (r["recall_at_10"], 1000 / r["ms_per_query"])
            series.append((f"mnemo in process: {r['method']}", "mnemo", [point]))
    hnsw = sorted((r for r in scan if r["method"].startswith("hnsw")), key=lambda r: r["extra"].get("ef_search", 0))
    if hnsw:
        series.append(("mnemo in process: HNSW, ef 32…200", "mnemo",
                       [(r["recall_at_10"], 1000 / r["ms_per_query"]) for r in hnsw]))
    for backend in ("sqlite", "postgres"):
        r = rep.search(backend, data, 1)
        if r and r.get("recall_at_10") is not None:
            series.append((f"mnemo {backend} over HTTP, c=1", "mnemo", [(r["recall_at_10"], r["qps"])]))
    for name, v in rep.peers.get(data, {}).items():
        sweep = v.get("sweep")
        if sweep:
            series.append((f"{name}, ef {sweep[0]['ef_search']}…{sweep[-1]['ef_search']}", "peer",
                           [(s["recall_at_10"], s["qps"]) for s in sweep]))
        elif v.get("qps") and v.get("recall_at_10") is not None:
            series.append((name, "peer", [(v["recall_at_10"], v["qps"])]))
    return series


def qps_vs_recall(rep, out_dir, stamp):
    data_sets = [d for d in ("npc", "recall") if _qps_recall_points(rep, d)]
    if not data_sets:
        return []
    fig, axes = plt.subplots(1, len(data_sets), figsize=(7.5 * len(data_sets), 6), squeeze=False)
    for ax, data in zip(axes[0], data_sets, strict=False):
        series = _qps_recall_points(rep, data)
        markers = "osD^v<>pP*Xh"
        for i, (label, group, pts) in enumerate(series):
            xs, ys = zip(*pts, strict=True)
            style = {"marker": markers[i % len(markers)], "label": label, "linestyle": "-" if len(pts) > 1 else "none"}
            if group == "peer":
                style["markerfacecolor"] = "none"
            ax.plot(xs, ys, **style)
        ax.set_yscale("log")
        ax.set_xlabel("recall@10")
        ax.set_ylabel("queries per second, one client (log)")
        ax.set_title(f"{data}: QPS vs recall@10")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="lower left")
    name = f"{stamp}-qps-recall"
    _save(fig, out_dir, name)
    return [("QPS vs recall@10 (filled: mnemo, hollow: peers)", name)]


def latency_vs_rows(rep, out_dir, stamp):
    steps = rep.scale_steps
    backends = sorted({b for b, _ in steps})
    if not backends:
        return []
    fig, ax = plt.subplots(figsize=(8, 5.5))
    colours = iter(plt.rcParams["axes.prop_cycle"].by_key()["color"])
    sizes_seen = set()
    for backend in backends:
        sizes = sorted(rows for b, rows in steps if b == backend)
        sizes_seen.update(sizes)
        for c in (1, 8):
            colour = next(colours)  # one colour per backend and concurrency; p50 solid, p99 dotted
            for pct, style in (("p50_ms", {"linestyle": "-", "marker": "o"}),
                               ("p99_ms", {"linestyle": ":", "marker": "^"})):
                pts = [(rows, steps[(backend, rows)][f"wrk_c{c}"][pct]) for rows in sizes
                       if f"wrk_c{c}" in steps[(backend, rows)]]
                if pts:
                    xs, ys = zip(*pts, strict=True)
                    ax.plot(xs, ys, color=colour, label=f"{backend}, concurrency {c}, {pct[:3]}", **style)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ticks = sorted(sizes_seen)
    ax.set_xticks(ticks, [f"{r // 1_000_000}M" if r % 1_000_000 == 0 else f"{r / 1000:g}k" for r in ticks])
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.set_xlabel("rows (NPCs of 5,000 memories, 1536-d)")
    ax.set_ylabel("search latency, ms (wrk; log)")
    ax.set_title("Search latency vs rows")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    name = f"{stamp}-latency-rows"
    _save(fig, out_dir, name)
    return [("Search latency (p50, p99) vs rows", name)]


def draw(rep, out_dir, stamp):
    """Draw every plot the run has data for; (title, file name without extension) of each."""
    return qps_vs_recall(rep, out_dir, stamp) + latency_vs_rows(rep, out_dir, stamp)
