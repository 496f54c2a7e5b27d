"""The Train page's "Data and model": what a run would train on (the open dataset) and what it would
train (the model built on the Model page, or the default for the data), with a way to either page
when one is missing."""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from mmstudio.formatting import plural
from mmstudio.ui.widgets import section_label
from mmstudio.vocabulary import architecture_summary


class JobSummaryWidget(QWidget):
    """The dataset and the model of the next run, in a line each. ``page_requested(page)`` when a Go
    to button is clicked (``datasets`` or ``model``)."""

    page_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.dataset_label = QLabel()
        self.dataset_label.setWordWrap(True)
        self.model_label = QLabel()
        self.model_label.setWordWrap(True)
        self.settings_label = QLabel()  # what the dataset chooses of the settings left open
        self.settings_label.setWordWrap(True)
        self.features_label = QLabel()  # which frozen encoders' features are cached, or why not
        self.features_label.setWordWrap(True)
        self.go_datasets_button = QPushButton("Go to Datasets")
        self.go_datasets_button.clicked.connect(lambda: self.page_requested.emit("datasets"))
        self.go_model_button = QPushButton("Go to Model")
        self.go_model_button.clicked.connect(lambda: self.page_requested.emit("model"))
        links = QHBoxLayout()
        links.addWidget(self.go_datasets_button)
        links.addWidget(self.go_model_button)
        links.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(8)
        layout.addWidget(section_label("Data and model"))
        layout.addWidget(self.dataset_label)
        layout.addWidget(self.model_label)
        layout.addWidget(self.settings_label)
        layout.addWidget(self.features_label)
        layout.addLayout(links)

    def show_job(self, dataset: Any, model_spec: dict[str, Any] | None, train: Any = None) -> None:
        """Show the loaded ``dataset`` (None: none is) and the model spec (None or empty: none built);
        with the ``train`` spec, a line of what the dataset chooses of the settings left open (as the
        run will: :func:`~mmstudio.training.defaults.apply_defaults`) and what picks the checkpoint,
        and one of which pretrained encoders' features are cached or why not."""
        from mmstudio.training.features import features_line
        from mmstudio.training.preflight import settings_summary

        settings = settings_summary(dataset, model_spec, train)
        self.settings_label.setText(f"<b>Training:</b> {html.escape(settings)}" if settings else "")
        features = features_line(model_spec, train)  # which encoders' features are cached, or why not
        self.features_label.setText(f"<b>Features:</b> {html.escape(features)}" if features else "")
        self.features_label.setVisible(bool(features))
        if dataset is None:
            self.dataset_label.setText("<b>Dataset:</b> none loaded. Open one on the Datasets page.")
        else:
            self.dataset_label.setText(
                f"<b>Dataset:</b> {html.escape(dataset.root.name or str(dataset.root))} · "
                f"{plural(len(dataset.items), 'pair')} · {plural(len(dataset.labels), 'label')} · "
                f"{dataset.format}"
            )
        if not model_spec:
            self.model_label.setText(
                "<b>Model:</b> none built: training uses the default for the dataset "
                "(TextCNN + small CNN, concatenated)."
            )
        else:
            label, tip = architecture_summary(model_spec)
            task = html.escape(model_spec.get("task", "classification"))
            self.model_label.setText(f"<b>Model:</b> {task} · {html.escape(label)}")
            self.model_label.setToolTip(tip)
        self.go_datasets_button.setVisible(dataset is None)
        self.go_model_button.setVisible(dataset is not None and not model_spec)
