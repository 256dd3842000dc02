"""Learned spike encoders registered as feature methods (see contrastive.py, autoencoder.py).

The registry imports those modules on the first lookup of a feature method; torch is imported
only when an encoder is fitted or loaded.
"""
