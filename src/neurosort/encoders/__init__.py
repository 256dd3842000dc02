"""Learned spike encoders registered as feature methods (see contrastive.py, autoencoder.py).

Importing this package registers the methods without importing torch.
"""

from neurosort.encoders import (
    autoencoder,  # noqa: F401
    contrastive,  # noqa: F401
)
