"""PyTorch integration: SparseLinear (drop-in nn.Linear), the custom op
``torch.ops.spinfer.sparse_linear`` and a helper that sparsifies a whole model.

    import torch, spinfer.torch as st
    layer = torch.nn.Linear(4096, 4096, dtype=torch.float16, device="cuda")
    sparse = st.SparseLinear.from_linear(layer, sparsity=0.6)
    y = torch.compile(sparse, fullgraph=True)(torch.randn(8, 4096, dtype=torch.float16,
                                                           device="cuda"))
    st.replace_linears(hf_model, sparsity=0.5)      # every Linear but lm_head
    hf_model.save_pretrained(path)                  # the sparse weights are saved too
    # reload: build from the config, patch, load the saved state
    model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(path))
    st.replace_linears(model)
    st.load_pretrained_state(model, path)

Needs torch >= 2.4. Importing this module registers the operator.
"""

from ._linear import SparseLinear, magnitude_prune
from ._op import sparse_linear
from ._replace import load_pretrained_state, replace_linears
from ._weight import context_for

__all__ = ["SparseLinear", "magnitude_prune", "replace_linears", "load_pretrained_state",
           "sparse_linear", "context_for"]
