"""mmstudio: a desktop studio for multimodal (text + image) deep-learning experiments."""

__version__ = "0.2.0"
#: The app's id on the desktop: the Linux desktop entry, AppStream metainfo and icons are named by it
#: (packaging/linux/), and the window tells the desktop it (so Wayland shows the entry's icon).
APP_ID = "io.github.mmstudio.mmstudio"
