"""The bundled mixture-of-experts fine-tuning loop, fed from the task store.

- ``config``: the typed config tree and the named configs (``tiny``, ``100m``).
- ``model`` / ``moe``: the byte-level decoder and its MoE block.
- ``backends``: how routed experts run (``loop``, ``torch_gmm``, ``triton``), one interface.
- ``kernels``: the hot paths, each Triton kernel beside its torch reference.
- ``dataset``: tasks into prompt/fix examples, packed rows, batches (diffs: ``synth.patches``).
- ``split``: which tasks are held out for evaluation (by repository and file; no fix on both
  sides).
- ``train`` / ``checkpoint`` / ``run``: the loop, safetensors checkpoints, a run over a store.
- ``sample`` / ``evaluate``: fixes sampled from a checkpoint for held-out tasks, then scored
  as `synth verify` scores them (`synth train eval`).

torch and triton are imported only inside this package (and its tests and benchmarks).
"""
