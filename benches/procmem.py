#!/usr/bin/env python3
"""Memory and start-up of a running mnemo server, for the bench's scale table.

    procmem.py startup --pid PID --url URL     time from the process's start to /readyz 200,
                                               RssAnon sampled every 20 ms meanwhile
    procmem.py steady --pid PID [--pg-pid P]   RssAnon, RssFile, VmHWM now (and Postgres' PSS)

Prints one JSON object. RssAnon is the process's own memory (vectors, index,
buffers); VmHWM also counts pages of memory-mapped files (SQLite mode maps
its database per connection), which are page cache, so the scale table
reports RssAnon and gives VmHWM beside it.
"""
import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request


def status_kib(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("RssAnon", "RssFile", "VmHWM", "VmRSS"):
                out[key] = int(rest.split()[0])
    return out


def seconds_since_start(pid):
    """Seconds since the process started (field 22 of /proc/PID/stat, in clock ticks after boot)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    started = int(fields[19]) / os.sysconf("SC_CLK_TCK")
    with open("/proc/uptime") as f:
        return float(f.read().split()[0]) - started


def ready(url):
    try:
        with urllib.request.urlopen(url + "/readyz", timeout=2) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


def startup(args):
    peak_anon, deadline = 0, time.monotonic() + args.timeout
    while True:
        try:
            st = status_kib(args.pid)
        except FileNotFoundError:
            sys.exit(f"procmem: the server (pid {args.pid}) exited while starting")
        peak_anon = max(peak_anon, st.get("RssAnon", 0))
        if ready(args.url):
            break
        if time.monotonic() > deadline:
            sys.exit(f"procmem: not ready after {args.timeout} s")
        time.sleep(0.02)
    st = status_kib(args.pid)
    return {"ready_s": round(seconds_since_start(args.pid), 3), "startup_peak_anon_kib": max(peak_anon, st["RssAnon"]),
            "anon_at_ready_kib": st["RssAnon"], "vmhwm_at_ready_kib": st["VmHWM"]}


def postgres_pss_kib(postmaster):
    """Proportional set size of the postmaster and its children: shared buffers counted once, not per process."""
    pids = [postmaster]
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == postmaster:
                        pids.append(int(d))
            except (OSError, ValueError):
                pass
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                total += sum(int(line.split()[1]) for line in f if line.startswith("Pss:"))
        except OSError:
            pass
    return total


def steady(args):
    st = status_kib(args.pid)
    out = {"anon_kib": st["RssAnon"], "file_kib": st["RssFile"], "vmhwm_kib": st["VmHWM"]}
    if args.pg_pid:
        out["postgres_pss_kib"] = postgres_pss_kib(args.pg_pid)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["startup", "steady"])
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--url")
    ap.add_argument("--pg-pid", type=int)
    ap.add_argument("--timeout", type=float, default=1800)
    args = ap.parse_args()
    if args.what == "startup" and not args.url:
        ap.error("startup needs --url")
    print(json.dumps(startup(args) if args.what == "startup" else steady(args)))


if __name__ == "__main__":
    main()
