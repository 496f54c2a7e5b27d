"""The desktop app (PySide6 + pyqtgraph): the only package that imports Qt.

``app`` starts it; ``main_window`` holds the pages: ``datasets_panel`` (with ``gallery``, ``report``,
``stats`` and ``columns_dialog``), ``model_panel`` (with ``param_form`` and ``diagram``). Long work
runs through ``tasks``; the pages share ``state``; ``settings`` persist between sessions. Nothing
outside this package imports it (an import-linter contract), and importing it does not import torch.
"""
