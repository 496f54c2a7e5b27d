"""The desktop app (PySide6 + pyqtgraph): the only package that imports Qt.

``launch`` starts the window (``main_window``), whose pages are listed in ``pages``: each is a package
(``datasets``, ``model``, ``train``, ``experiments``, ``compare``) of a thin panel and its parts, and
runs alone through ``harness`` (``python -m mmstudio.ui.<page>``). The pages do not import each other;
they share ``state``, the common widgets (``widgets``, ``param_form``, ``plot_style``, ``peak_curve``,
``thumbnails``) and ``tasks`` (long work off the GUI thread); ``settings`` persist between sessions.
Every rule lives in the core; this package holds only what touches Qt (a test reads it to make sure).
Nothing outside this package imports it (an import-linter contract), and importing it does not import
torch.
"""
