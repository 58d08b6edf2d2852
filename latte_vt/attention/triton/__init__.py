"""Optional fused Triton kernels for Latte (CUDA; on CPU only under ``TRITON_INTERPRET=1``).

Reach them through ``latte_causal(..., backend="triton")`` / ``latte_bidirectional(...)`` (``"auto"``
picks them on CUDA).  Nothing here imports ``triton`` until a kernel is first used; install it with
``pip install "latte-vt[gpu]"`` (the CUDA builds of torch on Linux already ship it).

  tiles.py            shared Triton helpers (masked loads, row softmax, log-sum-exp)
  causal_forward.py   causal forward: state scan, log-normaliser, output kernels
  causal_backward.py  causal backward: dq, reverse state scan, dk/dv kernels
  bidirectional.py    bidirectional forward and backward kernels
  autograd.py         torch.autograd.Function wrappers with the torch functions' contract
"""

from latte_vt.lazy import lazy_getattr

__all__ = ["latte_bidirectional_triton", "latte_causal_triton"]
__getattr__ = lazy_getattr(__name__, {"latte_causal_triton": "autograd", "latte_bidirectional_triton": "autograd"})
