"""The view of the Experiments page's runs: a tree view, so that runs can be listed under their dataset
or tag (:class:`~mmstudio.ui.experiments.table.RunsTableModel`), flat otherwise.

Its header's context menu chooses the columns (checked: shown); the widths, order, sort and hidden
columns are kept in the settings. The Loss curve column draws each run's sparkline (at most 48
points, read with the run's record in the poll), so painting a row costs one short polyline.
"""

from __future__ import annotations

from PySide6.QtCore import QByteArray, QModelIndex, QPersistentModelIndex, QPointF, QSize, Qt, Signal
from PySide6.QtGui import QAction, QPainter, QPalette, QPen, QPolygonF
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QMenu,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTreeView,
    QWidget,
)

from mmstudio.ui.experiments.table import (
    COLUMN_CAPS,
    COLUMN_KEYS,
    COLUMN_WIDTHS,
    COLUMNS,
    CURVE_ROLE,
    DEFAULT_HIDDEN,
    GROUP_ROLE,
    RunsFilterProxy,
)
from mmstudio.ui.settings import Settings

HEADER_KEY = "experiments/header"
COLUMNS_KEY = "experiments/columns"  # the columns the saved header is of (a newer version may differ)


class RowDelegate(QStyledItemDelegate):
    """Rows a little taller than the text (room for the sparkline and the eye)."""

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        size = super().sizeHint(option, index)
        return QSize(size.width(), max(size.height(), option.fontMetrics.height() + 10))


class SparklineDelegate(RowDelegate):
    """Draws a run's loss curve (:data:`~mmstudio.ui.experiments.table.CURVE_ROLE`) in its cell: the
    line in the highlight colour, its last point as a dot, scaled to the cell."""

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        style = opt.widget.style() if opt.widget is not None else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, opt.widget)
        values = index.data(CURVE_ROLE)
        if not values or len(values) < 2:
            return
        rect = option.rect.adjusted(6, 5, -8, -5)
        if rect.width() < 8 or rect.height() < 4:
            return
        low, high = min(values), max(values)
        span = (high - low) or 1.0
        step = rect.width() / (len(values) - 1)
        line = QPolygonF(
            [
                QPointF(rect.left() + n * step, rect.bottom() - (v - low) / span * rect.height())
                for n, v in enumerate(values)
            ]
        )
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Highlight
        colour = option.palette.color(role)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pen = QPen(colour, 1.5)
        pen.setCosmetic(True)
        painter.setPen(pen)
        painter.drawPolyline(line)
        painter.setBrush(colour)
        painter.drawEllipse(line[line.size() - 1], 2.2, 2.2)
        painter.restore()


class RunsView(QTreeView):
    """The runs of ``proxy``, newest first; see the module docstring."""

    layout_changed = Signal()  # the user changed a column's width, place or visibility, or the sort

    def __init__(self, proxy: RunsFilterProxy, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.proxy = proxy
        self.setModel(proxy)
        self.setSortingEnabled(True)
        self.sortByColumn(COLUMN_KEYS.index("created"), Qt.SortOrder.DescendingOrder)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setAlternatingRowColors(True)
        self.setUniformRowHeights(True)
        self.setAllColumnsShowFocus(True)
        self.setWordWrap(False)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.setRootIsDecorated(False)
        self.setIndentation(14)
        self.setItemDelegate(RowDelegate(self))
        self.setItemDelegateForColumn(COLUMN_KEYS.index("curve"), SparklineDelegate(self))
        header = self.header()
        header.setHighlightSections(False)
        header.setStretchLastSection(True)
        header.setSectionsMovable(True)
        header.setFirstSectionMovable(True)
        header.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        header.customContextMenuRequested.connect(self._on_header_context_menu_requested)
        header.sectionResized.connect(self.layout_changed)
        header.sectionMoved.connect(self.layout_changed)
        header.sortIndicatorChanged.connect(self.layout_changed)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        for signal in (proxy.rowsInserted, proxy.modelReset, proxy.layoutChanged):
            signal.connect(self._on_proxy_rows_changed)
        self._menu: QMenu | None = None

    # --- grouping -----------------------------------------------------------------------------------

    def set_grouped(self, grouped: bool) -> None:
        """Show the arrows of the group rows (the model's grouping was just set)."""
        self.setRootIsDecorated(grouped)
        if grouped:
            self.expandAll()
            self._span_groups()

    def _on_proxy_rows_changed(
        self, parent: QModelIndex | None = None, first: int = 0, last: int = -1
    ) -> None:
        if not self.rootIsDecorated():
            return
        if isinstance(parent, QModelIndex | QPersistentModelIndex) and not parent.isValid() and last >= first:
            for row in range(first, last + 1):  # a new group: open, as the others start
                self.expand(self.proxy.index(row, 0))
        self._span_groups()

    def _span_groups(self) -> None:
        """A group row's title spans the columns."""
        root = QModelIndex()
        for row in range(self.proxy.rowCount()):
            if self.proxy.index(row, 0).data(GROUP_ROLE) is not None:
                self.setFirstColumnSpanned(row, root, True)

    # --- the columns --------------------------------------------------------------------------------

    def column_visible(self, key: str) -> bool:
        return not self.isColumnHidden(COLUMN_KEYS.index(key))

    def set_column_visible(self, key: str, visible: bool) -> None:
        """Show or hide column ``key`` (never the last one shown)."""
        col = COLUMN_KEYS.index(key)
        shown = [k for k in COLUMN_KEYS if self.column_visible(k)]
        if not visible and shown == [key]:
            return
        self.setColumnHidden(col, not visible)
        if visible and self.columnWidth(col) < 24:
            self.resizeColumnToContents(col)
        self.layout_changed.emit()

    def columns_menu(self) -> QMenu:
        """The header's context menu: every column, checked when shown; the defaults; fit the widths."""
        menu = QMenu(self)
        menu.setToolTipsVisible(True)
        shown = [k for k in COLUMN_KEYS if self.column_visible(k)]
        for key, title, tip in COLUMNS:
            action = QAction(title, menu, checkable=True)
            action.setChecked(key in shown)
            action.setEnabled(shown != [key])  # one column stays
            if tip:
                action.setToolTip(tip)
            action.toggled.connect(lambda on, key=key: self.set_column_visible(key, on))
            menu.addAction(action)
        menu.addSeparator()
        menu.addAction("Default columns", self.default_columns)
        menu.addAction("Fit the columns to their contents", self.fit_columns)
        return menu

    def default_columns(self) -> None:
        """Every column in its place, those of :data:`DEFAULT_HIDDEN` hidden, widths fitted."""
        header = self.header()
        for col, key in enumerate(COLUMN_KEYS):
            header.moveSection(header.visualIndex(col), col)
            self.setColumnHidden(col, key in DEFAULT_HIDDEN)
        self.fit_columns()

    def fit_columns(self) -> None:
        """Each shown column as wide as its contents, long texts capped, the sparkline's fixed."""
        for col, key in enumerate(COLUMN_KEYS):
            if self.isColumnHidden(col):
                continue
            if key in COLUMN_WIDTHS:
                self.setColumnWidth(col, COLUMN_WIDTHS[key])
                continue
            self.resizeColumnToContents(col)
            if key in COLUMN_CAPS:
                self.setColumnWidth(col, min(self.columnWidth(col), COLUMN_CAPS[key]))
        header = self.header()
        last = header.logicalIndex(header.count() - 1)
        while last >= 0 and header.isSectionHidden(last):
            last = header.logicalIndex(header.visualIndex(last) - 1) if header.visualIndex(last) else -1
        if last >= 0:  # the last column no wider than what is left (it stretches into the rest)
            others = sum(header.sectionSize(c) for c in range(header.count()) if c != last)
            others -= sum(header.sectionSize(c) for c in range(header.count()) if header.isSectionHidden(c))
            room = self.viewport().width() - others
            self.setColumnWidth(last, max(80, min(self.columnWidth(last), room)))
        self.layout_changed.emit()

    def restore_layout(self, settings: Settings) -> bool:
        """The columns as the user left them (widths, order, sort, hidden ones); False when nothing
        fits these columns was saved (then the defaults apply)."""
        saved = settings.value(HEADER_KEY)
        same_columns = settings.value(COLUMNS_KEY) == ",".join(COLUMN_KEYS)
        if same_columns and isinstance(saved, QByteArray) and self.header().restoreState(saved):
            return True
        self.default_columns()
        return False

    def save_layout(self, settings: Settings) -> None:
        settings.set_value(COLUMNS_KEY, ",".join(COLUMN_KEYS))
        settings.set_value(HEADER_KEY, self.header().saveState())

    def _on_header_context_menu_requested(self, pos) -> None:
        self._menu = self.columns_menu()
        self._menu.popup(self.header().mapToGlobal(pos))
