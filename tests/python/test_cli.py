"""The `spinfer` command line: every bad argument is an exit code 2 with a message that
names the option and the value (never a crash, a hang or a silent default), --help exits
0, and a small demo runs and checks itself against float64.

usage: python3 test_cli.py PATH/TO/spinfer
"""
import subprocess
import sys

cli = sys.argv[1]
failures = []


def run(*args):
    p = subprocess.run([cli, *args], capture_output=True, text=True, timeout=120, cwd="/tmp")
    return p.returncode, p.stdout + p.stderr


def expect(args, code, *needles):
    rc, out = run(*args)
    missing = [n for n in needles if n not in out]
    if rc != code or missing:
        failures.append(f"spinfer {' '.join(args)}: exit {rc} (want {code}), missing {missing}:\n{out}")


expect(["--help"], 0, "usage: spinfer demo")
expect(["demo", "--help"], 0, "usage: spinfer demo")
expect(["--version"], 0, "spinfer ")
expect([], 2, "usage:")
expect(["frobnicate"], 2, "usage:")
for value in ["1.5", "nan", "1.0", "-0.1", "abc", "0.5x", ""]:
    expect(["demo", "--sparsity", value], 2, "--sparsity", "[0, 1)")
for option in ["--rows", "--cols", "--tokens"]:
    for value in ["-5", "0", "abc", "12x", "99999999999999999999", "1e3"]:
        expect(["demo", option, value], 2, option, f"'{value}'")
expect(["demo", "--rows", "65536", "--cols", "65536"], 2, "at most 2^28")
expect(["demo", "--dtype", "fp32"], 2, "--dtype", "'fp32'")
expect(["demo", "--rows"], 2, "--rows", "followed by a value")
expect(["demo", "--bogus", "1"], 2, "unknown option --bogus")

# A small demo runs end to end; the pruning is exact (no extra weights pruned on ties).
rc, out = run("demo", "--rows", "64", "--cols", "96", "--tokens", "3", "--sparsity", "0.7")
if rc != 0 or "-> OK" not in out or "nnz 1844)" not in out:
    failures.append(f"small demo: exit {rc}, output:\n{out}")
rc, out = run("demo", "--rows", "40", "--cols", "40", "--tokens", "1", "--sparsity", "0", "--dtype", "bf16")
if rc != 0 or "nnz 1600)" not in out:
    failures.append(f"dense bf16 demo: exit {rc}, output:\n{out}")

for f in failures:
    print("FAIL:", f)
print(f"test_cli: {len(failures)} failure(s)")
sys.exit(1 if failures else 0)
