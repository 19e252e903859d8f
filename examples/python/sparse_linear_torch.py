"""Swap the Linear layers of a PyTorch model for spinfer SparseLinear layers.

Run: python examples/python/sparse_linear_torch.py   (needs torch >= 2.4; uses the GPU
when there is one and libspinfer was built with CUDA, else the host backend).
"""

import torch

import spinfer
import spinfer.torch as st

device = "cuda" if torch.cuda.is_available() and spinfer.has_cuda() else "cpu"
dtype = torch.float16 if device == "cuda" else torch.float32
torch.manual_seed(0)

model = torch.nn.Sequential(
    torch.nn.Linear(1024, 4096), torch.nn.GELU(), torch.nn.Linear(4096, 1024),
).to(device=device, dtype=dtype).eval()

# Prune each layer to 70 % zeros by magnitude, then keep the pruned weights as the
# dense reference before they are replaced.
with torch.no_grad():
    for layer in model:
        if isinstance(layer, torch.nn.Linear):
            layer.weight.copy_(st.magnitude_prune(layer.weight, 0.7))
x = torch.randn(16, 1024, device=device, dtype=dtype)
with torch.no_grad():
    reference = model(x).float()

replaced = st.replace_linears(model)  # the zeros already in the weights are used
compiled = torch.compile(model, fullgraph=True) if device == "cuda" else model
with torch.no_grad():
    y = compiled(x).float()

err = float((y - reference).norm() / reference.norm())
print(f"device={device} replaced={replaced} sparsity={model[0].sparsity:.2f} rel_err={err:.2e}")
if err > (1e-2 if dtype == torch.float16 else 1e-3):
    raise SystemExit("SparseLinear does not match the dense model")
