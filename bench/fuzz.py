"""The property-based tests at length: thousands of generated strings, vectors, files, configs
and HTTP bodies against the Python API and a real server.

    python bench/fuzz.py --examples 1500 --out docs/bench-fuzz.json

Runs tests/test_fuzz.py with UNEMBED_FUZZ_EXAMPLES per property and reads hypothesis'
statistics: how many cases each property ran, how many failed, and how long it took.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--examples", type=int, default=1500, help="generated cases per property")
    p.add_argument("--out", help="write the JSON here")
    args = p.parse_args()
    start = time.time()
    done = subprocess.run([sys.executable, "-m", "pytest", str(ROOT / "tests" / "test_fuzz.py"), "-q",
                           "-p", "no:cacheprovider", "--hypothesis-show-statistics"],
                          cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "UNEMBED_FUZZ_EXAMPLES": str(args.examples)})
    properties = []
    for block in re.split(r"\n(?=tests/test_fuzz.py::)", done.stdout):
        name = re.match(r"tests/test_fuzz.py::(\w+)", block)
        phases = re.findall(r"(\d+) passing, (\d+) failing, and (\d+) invalid", block)
        if name and phases:
            totals = [sum(int(phase[i]) for phase in phases) for i in range(3)]
            properties.append({"property": name.group(1), "passing": totals[0], "failing": totals[1],
                               "invalid": totals[2]})
    summary = re.findall(r"(\d+) (passed|failed)", done.stdout.splitlines()[-1] if done.stdout else "")
    result = {"examples_per_property": args.examples, "cases": sum(r["passing"] + r["failing"] for r in properties),
              "failing": sum(r["failing"] for r in properties), "tests": dict((k, int(v)) for v, k in summary),
              "seconds": round(time.time() - start, 1), "properties": properties, "exit_code": done.returncode}
    for r in properties:
        print(f"{r['property']:62s} {r['passing']:6d} passing {r['failing']:3d} failing")
    print(f"{result['cases']} cases, {result['failing']} failing, {result['seconds']} s")
    if done.returncode:
        print(done.stdout[-3000:], file=sys.stderr)
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    sys.exit(done.returncode)


if __name__ == "__main__":
    main()
