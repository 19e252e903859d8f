"""The cross-language scenario (examples/SCENARIO.md) with the spinfer Python package.

Run: python examples/python/scenario.py   ->   prints "checksum = -26.937500"
Exits non-zero if any check fails.
"""

import os
import tempfile

import numpy as np

import spinfer

M, K, N = 96, 200, 5


def check(condition, what):
    if not condition:  # not `assert`: it must also hold under python -O
        raise SystemExit(f"scenario failed: {what}")


# 1. The fixed matrix W: half its entries kept, every value a multiple of 1/8.
i, j = np.arange(M)[:, None], np.arange(K)[None, :]
W = np.where((i * 7 + j * 13) % 10 < 5, ((i * 131 + j * 71) % 17 - 8) / 8.0, 0.0)
W = W.astype(np.float32)

# 2. Encode with fp16 non-zeros; the library counts the same non-zeros as we do.
with spinfer.encode(W, "f16") as encoded:
    nnz = int(np.count_nonzero(W))
    check(nnz == 9036 and encoded.nnz == nnz, f"nnz {nnz}, library {encoded.nnz}")

    # 3. Save under the name "w" and load it back.
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "scenario.safetensors")
        spinfer.save(path, {"w": encoded})
        check(spinfer.matrix_names(path) == ["w"], "the file holds one matrix 'w'")
        loaded = spinfer.load(path, "w")

# 4. X [N, K] and the bias.
n = np.arange(N)[:, None]
X = (((n * 29 + j * 37) % 11 - 5) / 4.0).astype(np.float32)
b = ((np.arange(M) % 7 - 3) / 2.0).astype(np.float32)

# 5. Y = X W^T + b in fp32 on a host context (ldx = K, ldy = M: plain row-major arrays).
with spinfer.Context("host") as ctx, loaded:
    Y = ctx.spmm(loaded, X, b)

# 6. A float64 reference: every product and partial sum is exact in fp32.
ref = X.astype(np.float64) @ W.astype(np.float64).T + b.astype(np.float64)
check(Y.shape == (N, M) and Y.dtype == np.float32, f"Y is {Y.dtype} {Y.shape}")
check(np.array_equal(Y, ref), "Y differs from the float64 reference")
print(f"checksum = {Y.sum(dtype=np.float64):.6f}")
