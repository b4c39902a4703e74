"""CoTDiag: where do chain-of-thought training gains land in LLM agents?

``import cotdiag`` registers the Gymnasium environments (``CoTDiag-ALFWorld-v0``, ...).
"""

from __future__ import annotations

from cotdiag import envs as envs  # registers the environments

__version__ = "0.1.0"
__all__ = ["envs", "__version__"]
