"""Fused decoding-step kernels (Triton) and their PyTorch references, one signature each.

`mamba_step`: one Mamba-2 layer's recurrent step after in_proj (conv-state shift + depthwise conv +
SiLU + SSM state update + D skip + SiLU gate), and the row RMSNorm that follows it.
`hnet_step`: one H-Net stage's router (cosine of adjacent keys, chunk decision) and its dechunking EMA.

Each public function takes `impl` ("triton" or "torch"); the Triton kernels live in `_triton.py`, imported
only when asked (triton is optional on a CPU). On this CPU they run through Triton's interpreter
(TRITON_INTERPRET=1), which is how the equivalence tests check them without a GPU.
"""

from engine.kernels.env import configure_triton_cache, triton_status
from engine.kernels.hnet_step import dechunk_step, route_step
from engine.kernels.mamba_step import conv_ssm_step, rmsnorm_rows

__all__ = ["conv_ssm_step", "rmsnorm_rows", "route_step", "dechunk_step", "configure_triton_cache",
           "triton_status"]
