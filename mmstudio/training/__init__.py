"""Training (Qt-free): specs, prepared tensors, metrics, checkpoints, the trainer and its worker process.

Nothing is imported here, so ``import mmstudio.training.events`` (standard library only) and
``import mmstudio.training.spec`` (no torch) stay cheap for the GUI and the store; import the module
you need.
"""
