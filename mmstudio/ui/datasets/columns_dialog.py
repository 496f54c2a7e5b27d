"""Which column is the image, the text, the label and the split: the mapping dialog.

It opens pre-filled with the roles the core guessed, over a live preview of the first rows in which
each chosen column is tinted with its role's colour; changing a role re-tints the preview at once.
The core's :func:`mmstudio.data.preview.read_preview` reads those first rows, off the GUI thread.
"""

from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from mmstudio.data.preview import CLASS_FOLDER, PSEUDO_COLUMNS, Preview
from mmstudio.data.types import ColumnRoles
from mmstudio.formatting import plural
from mmstudio.ui.widgets import MessageBar, section_label

ROLES = ("image", "text", "label", "split")
OPTIONAL_ROLES = ("label", "split")
NONE = "(none)"

ROLE_COLOURS = {
    "image": QColor(66, 133, 244, 70),
    "text": QColor(52, 168, 83, 70),
    "label": QColor(251, 140, 0, 80),
    "split": QColor(142, 68, 173, 65),
}
ROLE_TITLES = {"image": "Image", "text": "Text", "label": "Label", "split": "Split"}
ROLE_HELP = {
    "image": "The column with each image's path (relative to the manifest's folder).",
    "text": "The column with the caption or text paired with the image.",
    "label": "The class of each pair; (none) for an image-text retrieval dataset.",
    "split": "train / val / test per row; (none) to split by seed.",
}


class PreviewTableModel(QAbstractTableModel):
    """The preview rows; the column of each role is tinted with the role's colour."""

    def __init__(self, preview: Preview, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.preview = preview
        self._role_of: dict[str, str] = {}

    def set_roles(self, roles: ColumnRoles) -> None:
        self._role_of = {col: role for role, col in roles.to_dict().items() if col}
        if self.preview.columns:
            self.headerDataChanged.emit(Qt.Orientation.Horizontal, 0, len(self.preview.columns) - 1)
        if self.preview.rows and self.preview.columns:
            last = self.index(len(self.preview.rows) - 1, len(self.preview.columns) - 1)
            self.dataChanged.emit(self.index(0, 0), last, [Qt.ItemDataRole.BackgroundRole])

    def role_of(self, column: str) -> str | None:
        return self._role_of.get(column)

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.preview.rows)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.preview.columns)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        column = self.preview.columns[index.column()]
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return self.preview.rows[index.row()].get(column, "")
        if role == Qt.ItemDataRole.BackgroundRole:
            played = self._role_of.get(column)
            return ROLE_COLOURS[played] if played else None
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Vertical:
            return str(section + 1) if role == Qt.ItemDataRole.DisplayRole else None
        column = self.preview.columns[section]
        played = self._role_of.get(column)
        if role == Qt.ItemDataRole.DisplayRole:
            return f"{column}\n({played})" if played else f"{column}\n "
        if role == Qt.ItemDataRole.FontRole and played:
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.BackgroundRole and played:
            return ROLE_COLOURS[played]
        return None


def _swatch(role: str) -> QLabel:
    pixmap = QPixmap(12, 12)
    colour = QColor(ROLE_COLOURS[role])
    colour.setAlpha(255)
    pixmap.fill(colour)
    label = QLabel()
    label.setPixmap(pixmap)
    return label


class ColumnMappingDialog(QDialog):
    """Choose the image, text, label and split columns, with a live preview of the first rows.

    ``roles`` pre-fills the choices (a ``None`` label or split shows "(none)"); :meth:`roles` gives
    the choice back as the core takes it: ``""`` for "(none)" (no such column), layout roles such as
    "(class folder)" as they were shown.
    """

    roles_changed = Signal(object)  # ColumnRoles

    def __init__(
        self,
        preview: Preview,
        roles: ColumnRoles,
        *,
        format: str = "manifest",
        message: str = "",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Choose the columns")
        self.preview = preview
        self.format = format
        self.model = PreviewTableModel(preview, self)
        self.combos: dict[str, QComboBox] = {}

        self.message = MessageBar()
        if message:
            self.message.show_message(message, "warning")
        grid = QGridLayout()
        grid.setHorizontalSpacing(10)
        grid.setVerticalSpacing(8)
        choices = preview.role_choices()
        for n, role in enumerate(ROLES):
            combo = QComboBox()
            combo.setMinimumWidth(200)
            combo.setToolTip(ROLE_HELP[role])
            if role in OPTIONAL_ROLES:
                combo.addItem(NONE, "")
            for column in choices:
                combo.addItem(column, column)
            for pseudo in self._pseudo_choices(role, roles):
                combo.addItem(pseudo, pseudo)
            combo.setPlaceholderText(f"Choose the {role} column")
            value = getattr(roles, role)
            combo.setCurrentIndex(combo.findData(value) if value else (0 if role in OPTIONAL_ROLES else -1))
            combo.currentIndexChanged.connect(self._on_combo_current_index_changed)
            self.combos[role] = combo
            r, c = divmod(n, 2)
            title = QLabel(f"{ROLE_TITLES[role]} column")
            title.setBuddy(combo)
            grid.addWidget(_swatch(role), r, 3 * c)
            grid.addWidget(title, r, 3 * c + 1)
            grid.addWidget(combo, r, 3 * c + 2)
        grid.setColumnStretch(2, 1)
        grid.setColumnStretch(5, 1)
        grid.setColumnMinimumWidth(3, 24)

        self.error = QLabel()
        self.error.setObjectName("columnsError")
        self.error.setStyleSheet("color: #d64541;")  # reads on a light and a dark base
        self.error.setWordWrap(True)

        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.table.verticalHeader().setDefaultSectionSize(self.table.fontMetrics().height() + 8)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setDefaultSectionSize(160)
        header.setMinimumSectionSize(60)
        header.setStretchLastSection(True)

        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("Load")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        shown = (
            f"first {plural(len(preview.rows), 'row')} of {preview.source}"
            if preview.rows
            else preview.source
        )
        layout = QVBoxLayout(self)
        layout.setSpacing(10)
        layout.addWidget(self.message)
        intro = QLabel(
            "Check which column holds each part of a pair. The columns you choose are highlighted "
            "in the preview below."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        layout.addLayout(grid)
        layout.addWidget(self.error)
        heading = QHBoxLayout()
        heading.addWidget(section_label("Preview"))
        heading.addWidget(QLabel(f"({shown})"))
        heading.addStretch(1)
        layout.addLayout(heading)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.buttons)
        self.resize(940, 560)
        self._update()
        self._fit_columns()

    def _pseudo_choices(self, role: str, roles: ColumnRoles) -> list[str]:
        out = []
        if role == "label" and (self.format == "imagefolder" or roles.label == CLASS_FOLDER):
            out.append(CLASS_FOLDER)
        current = getattr(roles, role)
        if current in PSEUDO_COLUMNS and current not in out:
            out.append(current)
        return [p for p in out if p not in self.preview.role_choices()]

    def roles(self) -> ColumnRoles:
        """The chosen roles (``""`` where "(none)" is chosen; ``None`` where nothing is chosen)."""
        values = {}
        for role, combo in self.combos.items():
            values[role] = combo.currentData() if combo.currentIndex() >= 0 else None
        return ColumnRoles(**values)

    def set_role(self, role: str, column: str | None) -> None:
        """Choose ``column`` (``None`` or "(none)": no such column) for ``role``."""
        combo = self.combos[role]
        index = combo.findData("" if column in (None, NONE) else column)
        if index < 0:
            raise ValueError(f"{column!r} is not a column of {self.preview.source}")
        combo.setCurrentIndex(index)

    def problem(self) -> str:
        """Why the choice cannot be loaded yet ("" when it can)."""
        roles = self.roles()
        for role in ("image", "text"):
            if not getattr(roles, role):
                return f"Choose the column that holds the {'image paths' if role == 'image' else 'text'}."
        chosen = [c for c in roles.to_dict().values() if c]
        twice = sorted({c for c in chosen if chosen.count(c) > 1})
        if twice:
            return f"The column {twice[0]!r} is chosen for two roles; each column plays one role."
        return ""

    def _update(self) -> None:
        roles = self.roles()
        self.model.set_roles(roles)
        problem = self.problem()
        self.error.setText(problem)
        self.error.setVisible(bool(problem))
        self.ok_button.setEnabled(not problem)
        self.roles_changed.emit(roles)

    def _fit_columns(self) -> None:
        self.table.resizeColumnsToContents()
        header = self.table.horizontalHeader()
        for n in range(header.count()):
            header.resizeSection(n, max(90, min(header.sectionSize(n), 360)))

    def _on_combo_current_index_changed(self, _index: int) -> None:
        self._update()
