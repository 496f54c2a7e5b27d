"""The pages of the window, in one table: what the page bar shows, where each page's class lives, and
whether the window makes it at once or after its first paint.

A page is a package ``mmstudio.ui.<name>`` holding its panel (``panel.py``), its parts, and a
``__main__.py`` that shows it alone (:mod:`mmstudio.ui.harness`). Adding a page is that package and
one line here; its name joins :data:`mmstudio.vocabulary.PAGES` (the command line's ``--page``).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from mmstudio.vocabulary import PAGES


@dataclass(frozen=True)
class Page:
    name: str
    title: str
    panel: str  # "module:Class"
    later: bool  # made after the window's first paint (its plots and imports need not hold it up)

    @property
    def module(self) -> str:
        return self.panel.split(":")[0]

    def panel_class(self) -> type:
        """The page's panel class (importing its module)."""
        module, cls = self.panel.split(":")
        return getattr(importlib.import_module(module), cls)


_PAGES = (
    Page("datasets", "Datasets", "mmstudio.ui.datasets.panel:DatasetsPanel", later=False),
    Page("model", "Model", "mmstudio.ui.model.panel:ModelPanel", later=False),
    Page("train", "Train", "mmstudio.ui.train.panel:TrainPanel", later=True),
    Page("experiments", "Experiments", "mmstudio.ui.experiments.panel:ExperimentsPanel", later=True),
    Page("compare", "Compare", "mmstudio.ui.compare.panel:ComparePanel", later=True),
)
PAGE_TABLE: dict[str, Page] = {page.name: page for page in _PAGES}  # in PAGES' order (a test checks)


def page(name: str) -> Page:
    """The page called ``name``; an unknown name raises ``ValueError`` listing the pages."""
    try:
        return PAGE_TABLE[name]
    except KeyError:
        raise ValueError(f"no page {name!r}; pages: {', '.join(PAGES)}") from None
