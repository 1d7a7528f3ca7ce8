"""The MoE hot paths: torch references and the Triton kernels that sit beside them.

Shape legend (suffixes of tensor names, as in ``x_TD``):
  T tokens, D model dim, E experts, F expert hidden dim, K top-k,
  S slots (T*K token-expert pairs, sorted by expert), P padded slots (grouped_mm rows),
  M row blocks of the grouped GEMMs, N column blocks.

``*_ref.py`` are the references (plain torch, any dtype, float64 for gradcheck);
``*_triton.py`` hold the kernels with their autograd. Triton is imported only by those files.
"""
