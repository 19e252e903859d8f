"""The README's language snippets, for the bindings' CI scripts to run as written.

  python3 readme_snippet.py README.md LANG      prints the block right after the
                                                <!-- ci: LANG-snippet ... --> line
  python3 readme_snippet.py README.md --run-python
                                                runs the Python block in this interpreter
                                                (spinfer installed) in a scratch directory
                                                and checks its y against x @ w.T in float64

A marker that is missing, or not followed by a fence of its language, is an error (exit 1).
"""
import os
import re
import sys
import tempfile

FENCES = {"python": "```python", "java": "```java", "rust": "```rust", "c": "```c"}


def snippet(readme, lang):
    lines = open(readme).read().splitlines()
    marker = re.compile(rf"^<!--\s*ci:\s*{re.escape(lang)}-snippet\b.*-->\s*$")
    at = [i for i, line in enumerate(lines) if marker.match(line)]
    if len(at) != 1 or at[0] + 1 >= len(lines) or lines[at[0] + 1].strip() != FENCES[lang]:
        sys.exit(f"{readme}: want one <!-- ci: {lang}-snippet --> line right before a {FENCES[lang]} fence")
    end = next((j for j in range(at[0] + 2, len(lines)) if lines[j].strip() == "```"), None)
    if end is None:
        sys.exit(f"{readme}: the {lang} block never closes")
    return "\n".join(lines[at[0] + 2:end]) + "\n"


def run_python(readme):
    import numpy as np
    code = snippet(readme, "python")
    os.chdir(tempfile.mkdtemp(prefix="spinfer_readme_py_"))
    scope = {"__name__": "__readme__"}
    exec(compile(code, readme + " (python block)", "exec"), scope)
    w, x, y = (np.asarray(scope[k], dtype=np.float64) for k in ("w", "x", "y"))
    ref = x @ w.T
    err = np.linalg.norm(y - ref) / np.linalg.norm(ref)
    print(f"README python block: y {y.shape}, relative error {err:.2e} against float64 (fp16 weights)")
    if y.shape != ref.shape or not err <= 2e-3:
        sys.exit("README python block: y is not x @ w.T")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    if sys.argv[2] == "--run-python":
        run_python(sys.argv[1])
    else:
        sys.stdout.write(snippet(sys.argv[1], sys.argv[2]))
