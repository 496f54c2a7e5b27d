"""mmstudio: a desktop studio for multimodal (text + image) deep-learning experiments."""

__version__ = "0.2.0"
