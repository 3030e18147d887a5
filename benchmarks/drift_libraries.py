"""Which drift library: detection quality, speed on 10k rows, import and install cost.

Candidates, each in a virtualenv of its own (created under build/bench-drift/ on first run,
timed, so the install cost is measured too; `--skip-install` uses what is there):

- scipy (the pinned set's scipy.stats, through compiler/deploy/local/drift.py),
- nannyml 0.13.1 (UnivariateDriftCalculator: Kolmogorov-Smirnov and chi-square),
- evidently 0.7.23 (installed to see whether it imports with the pinned pandas).

Data are shaped like the fraud team's transactions. Quality: 20 windows of 500 requests drawn
like the 4,000-row reference (every flag is a false alarm) and 20 windows in which `amount`
(x1.6) and `merchant_risk` (Beta(3,6) instead of Beta(2,8)) shifted (flags on those two are
detections, on the other three false alarms). Speed: one check of 10k rows against 10k.

    .venv/bin/python benchmarks/drift_libraries.py [--skip-install]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
VENVS = ROOT / "build" / "bench-drift"
FEATURES = {
    "amount": "ks",
    "merchant_risk": "ks",
    "distance_km": "ks",
    "hour": "chi2",
    "foreign": "chi2",
}
SHIFTED = {"amount", "merchant_risk"}
# nannyml 0.13.1 imports statsmodels without declaring it.
PACKAGES = {
    "nannyml": ["nannyml==0.13.1", "statsmodels==0.15.0"],
    "evidently": ["evidently==0.7.23"],
}
TRIALS = 20


def sample(n: int, seed: int, shift: bool = False) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    data = {
        "amount": np.round(rng.lognormal(3.5, 1.0, n), 2),
        "hour": rng.integers(0, 24, n),
        "merchant_risk": rng.beta(2.0, 8.0, n),
        "distance_km": np.round(rng.exponential(20.0, n), 1),
        "foreign": (rng.random(n) < 0.1).astype(int),
    }
    if shift:
        data["amount"] = np.round(data["amount"] * 1.6, 2)
        data["merchant_risk"] = rng.beta(3.0, 6.0, n)
    return data


# Runs inside each candidate's interpreter: reads the windows, prints timings and flags.
RUNNER = r"""
import json, sys, time
t0 = time.perf_counter()
LIB = sys.argv[1]
if LIB == "scipy":
    sys.path.insert(0, sys.argv[3])
    from compiler.deploy.local.drift import check
    from schemas.monitoring import FeatureMonitor
elif LIB == "nannyml":
    import nannyml as nml
else:
    import evidently  # noqa
    from evidently import Report  # noqa
imported = time.perf_counter() - t0
import numpy as np, pandas as pd
data = np.load(sys.argv[2])
features = json.loads(str(data["features"]))
def flags(ref, cur):
    if LIB == "scipy":
        mons = {f: FeatureMonitor(method=m) for f, m in features.items()}
        r = check(mons, ref, cur)
        return sorted(f.feature for f in r.features if f.drifted)
    cats = [f for f, m in features.items() if m == "chi2"]
    calc = nml.UnivariateDriftCalculator(
        column_names=list(features), treat_as_categorical=cats,
        continuous_methods=["kolmogorov_smirnov"], categorical_methods=["chi2"],
        chunk_size=len(next(iter(cur.values()))))
    calc.fit(pd.DataFrame(ref))
    out = calc.calculate(pd.DataFrame(cur)).filter(period="analysis").to_df()
    hit = set()
    for col in out.columns:
        if col[-1] == "alert" and bool(out[col].any()):
            hit.add(col[0])
    return sorted(hit)
ref = {f: data["ref_" + f] for f in features}
result = {"import_s": imported, "windows": []}
for kind in ("same", "shift"):
    for i in range(int(data["trials"])):
        cur = {f: data[f"{kind}{i}_" + f] for f in features}
        result["windows"].append([kind, flags(ref, cur)])
big_ref = {f: data["bigref_" + f] for f in features}
big_cur = {f: data["bigcur_" + f] for f in features}
times = []
for _ in range(3):
    t = time.perf_counter(); flags(big_ref, big_cur); times.append(time.perf_counter() - t)
result["check_10k_s"] = sorted(times)[1]
print(json.dumps(result))
"""


def install(lib: str, skip: bool) -> dict[str, object]:
    venv = VENVS / lib
    info: dict[str, object] = {"python": str(venv / "bin" / "python")}
    if not (venv / "bin" / "python").exists() and not skip:
        started = time.monotonic()
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        done = subprocess.run(
            [str(venv / "bin" / "pip"), "install", "--quiet", *PACKAGES[lib]],
            capture_output=True,
            text=True,
        )
        info["install_s"] = round(time.monotonic() - started, 1)
        info["install_ok"] = done.returncode == 0
    if venv.exists():
        size = subprocess.run(["du", "-sm", f"{venv}/"], capture_output=True, text=True)
        info["venv_mb"] = int(size.stdout.split()[0]) if size.stdout else None
    return info


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-install", action="store_true")
    args = parser.parse_args()
    arrays: dict[str, object] = {"features": json.dumps(FEATURES), "trials": TRIALS}
    for name, values in sample(4000, 7).items():
        arrays[f"ref_{name}"] = values
    for i in range(TRIALS):
        for kind, shift in (("same", False), ("shift", True)):
            for name, values in sample(500, 1000 + i, shift).items():
                arrays[f"{kind}{i}_{name}"] = values
    for prefix, seed in (("bigref", 1), ("bigcur", 2)):
        for name, values in sample(10_000, seed).items():
            arrays[f"{prefix}_{name}"] = values
    report: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "windows.npz"
        np.savez(data, **arrays)  # type: ignore[arg-type]
        script = Path(tmp) / "runner.py"
        script.write_text(RUNNER)
        for lib in ("scipy", "nannyml", "evidently"):
            info: dict[str, object] = (
                {"python": sys.executable, "venv_mb": 0, "install_s": 0.0}
                if lib == "scipy"
                else install(lib, args.skip_install)
            )
            python = str(info.pop("python"))
            if not Path(python).exists():
                report[lib] = {**info, "error": "not installed"}
                continue
            done = subprocess.run(
                [python, str(script), lib, str(data), str(ROOT)],
                capture_output=True,
                text=True,
                cwd=ROOT,
            )
            if done.returncode != 0:
                last = [line for line in done.stderr.splitlines() if line.strip()][-1:]
                report[lib] = {**info, "error": last[0] if last else f"exit {done.returncode}"}
                continue
            out = json.loads(done.stdout.splitlines()[-1])
            same = [set(f) for kind, f in out["windows"] if kind == "same"]
            shift = [set(f) for kind, f in out["windows"] if kind == "shift"]
            others = len(FEATURES) - len(SHIFTED)
            report[lib] = {
                **info,
                "import_s": round(out["import_s"], 2),
                "check_10k_s": round(out["check_10k_s"], 4),
                "no_shift_windows_with_alarm": f"{sum(bool(f) for f in same)}/{TRIALS}",
                "false_alarm_rate_no_shift": round(
                    sum(len(f) for f in same) / (TRIALS * len(FEATURES)), 3
                ),
                "detection_rate_shifted": round(
                    sum(len(f & SHIFTED) for f in shift) / (TRIALS * len(SHIFTED)), 3
                ),
                "false_alarm_rate_unshifted_in_shift": round(
                    sum(len(f - SHIFTED) for f in shift) / (TRIALS * others), 3
                ),
            }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
