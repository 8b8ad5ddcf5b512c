"""Training: from a recipe to a trained Brevitas network (``checkpoint.pt``).

==============  ==========================================================================
``recipes``     the ``Recipe`` dataclass, loading and checking ``models/*.yaml`` (no torch)
``data``        the datasets: built-in MNIST 5k and 8x8 digits, MNIST / CIFAR-10 folders
``quantizers``  the Brevitas weight and activation quantizers (power-of-two scales)
``layers``      RSign, RPReLU, FPReLU, Batch Kalman Norm and the norm / non-linearity factories
``networks``    ``BinaryMLP``, ``BinaryCNN``, ``ReActCNN``, ``DenseCNN``, ``TensorNorm``, ``build_model``
``trainer``     the phases (teacher, two-step), the training loop, checkpoints and resume
``progress``    a tqdm bar on a terminal, one line per epoch in a log
``zoo``         ``hw-bnn zoo``: weights, MACs and memory of every recipe's network
==============  ==========================================================================

Only ``recipes`` and ``data`` can be imported without torch.
"""
