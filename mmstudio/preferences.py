"""The user's preferences as rules, without Qt: what each one may hold, and which value wins.

Four preferences can be chosen in the app's Settings dialog (``ui/settings.py`` keeps them) and also
given from outside. The order is always the same, the first that is set wins:

    command-line option  >  environment variable  >  the settings file  >  the default

- store: ``--db URL`` > ``MMSTUDIO_DB`` > settings > a SQLite file in the data folder;
- cache folder: ``MMSTUDIO_CACHE_DIR`` > settings > ``<MMSTUDIO_HOME>/cache`` or the user cache folder;
- training device: settings > ``auto`` (CUDA, else Apple MPS, else CPU);
- theme: ``--theme`` > ``MMSTUDIO_THEME`` > settings > ``system`` (the desktop's palette).

The training device is where the Train page's Device choice starts (``mmstudio train --device``
is the command line's own, ``auto`` by default). Every check here returns the value to keep or
raises ``ValueError`` with a sentence that names the bad value, so the dialog and the settings
file's loader say the same thing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

THEMES = ("system", "light", "dark")
THEME_ENV = "MMSTUDIO_THEME"
DB_ENV = "MMSTUDIO_DB"
CACHE_DIR_ENV = "MMSTUDIO_CACHE_DIR"
#: The devices a preference may name; ``cuda:N`` picks one GPU of several.
DEVICES = ("auto", "cpu", "cuda", "mps")
_CUDA_INDEX = re.compile(r"^cuda:\d+$")
_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+]*://")
# scheme://user:password@rest (the password percent-encoded, so it holds no "@" or "/")
_WITH_PASSWORD = re.compile(r"^(?P<head>[a-zA-Z][a-zA-Z0-9+]*://[^:/@]*:)(?P<password>[^@/]*)(?P<tail>@.*)$")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+]+:")

#: Where a resolved value came from, as a sentence's end ("... from the settings").
SOURCES = ("command line", "environment", "settings", "default")


@dataclass(frozen=True)
class Resolved:
    """A preference's value and where it came from (one of :data:`SOURCES`; ``variable`` names the
    environment variable when it came from there)."""

    value: str
    source: str
    variable: str = ""

    def describe(self) -> str:
        if self.source == "environment":
            return f"set by {self.variable}"
        if self.source == "command line":
            return "set on the command line"
        return "from the settings" if self.source == "settings" else "the default"

    def override_note(self) -> str:
        """A sentence for a settings field when this value comes from outside and so wins over it
        ('' when it does not)."""
        if self.source not in ("command line", "environment"):
            return ""
        return (
            f"Now {self.describe()} ({self.value}), which wins over this setting; what is saved here "
            "applies when it is not set."
        )


def resolve(
    option: str | None, variable: str, saved: str, default: str, environ: Mapping[str, str] | None = None
) -> Resolved:
    """The value that wins: ``option`` (the command line) > the environment ``variable`` > ``saved``
    (the settings file) > ``default``. Empty strings count as not set."""
    environ = os.environ if environ is None else environ
    if option:
        return Resolved(option, "command line")
    if environ.get(variable):
        return Resolved(environ[variable], "environment", variable)
    if saved:
        return Resolved(saved, "settings")
    return Resolved(default, "default")


def check_theme(value: str) -> str:
    if value not in THEMES:
        raise ValueError(f"The theme {value!r} is not one of {', '.join(THEMES)}")
    return value


def check_device(value: str) -> str:
    if value not in DEVICES and not _CUDA_INDEX.match(value):
        raise ValueError(f"The device {value!r} is not one of {', '.join(DEVICES)} or cuda:N")
    return value


def check_cache_folder(value: str) -> str:
    """A cache folder: '' (the default) or an absolute path that is not a file; it is made when first
    used."""
    if not value:
        return ""
    path = Path(value).expanduser()
    if not path.is_absolute():
        raise ValueError(f"The cache folder {value!r} is not an absolute path")
    if path.exists() and not path.is_dir():
        raise ValueError(f"The cache folder {value!r} is a file, not a folder")
    return str(path)


#: How a store URL's password is shown in a field or a message.
PASSWORD_MASK = "***"


def hide_password(url: str) -> str:
    """``url`` with its password shown as ``***`` (for a field or a message); a URL without one, or
    text that is no URL, comes back as it is."""
    match = _WITH_PASSWORD.match(url)
    if match is None or not match["password"]:
        return url
    return f"{match['head']}{PASSWORD_MASK}{match['tail']}"


def restore_password(shown: str, original: str) -> str:
    """The URL a field holds that showed ``hide_password(original)``: where its password is still the
    mask, ``original``'s password is put back (so a user who changes the host keeps the password); a
    password typed over the mask is the user's."""
    match, before = _WITH_PASSWORD.match(shown), _WITH_PASSWORD.match(original)
    if match is None or before is None or match["password"] != PASSWORD_MASK or not before["password"]:
        return shown
    return f"{match['head']}{before['password']}{match['tail']}"


def store_url(text: str) -> str:
    """The store a user typed or chose, as a URL: '' (the default store), a SQLAlchemy URL
    (``sqlite:///…``, ``postgresql://…``) or a path to a SQLite file, whose folder must exist. A bad
    one raises ``ValueError`` naming it. (Whether a server answers is learnt when the store opens.)"""
    text = text.strip()
    if not text:
        return ""
    if _URL.match(text):
        if text.startswith("sqlite:"):
            if not text.startswith("sqlite:///"):
                raise ValueError(f"The store {text!r} is not a SQLite URL of the form sqlite:///PATH")
            path = text.removeprefix("sqlite:///")
            if path in ("", ":memory:"):
                raise ValueError(f"The store {text!r} names no file; runs would be lost on quitting")
            _check_sqlite_file(Path(path), text)
        elif "@" not in text and text.endswith("://"):
            raise ValueError(f"The store {text!r} names no database")
        return text
    if "://" in text or _SCHEME.match(text):  # "postgresql:/db", not a drive letter's "C:"
        raise ValueError(f"The store {text!r} is neither a file path nor a URL such as postgresql://HOST/DB")
    path = Path(text).expanduser()
    if not path.is_absolute():
        raise ValueError(f"The store {text!r} is not an absolute path")
    _check_sqlite_file(path, text)
    return f"sqlite:///{path}"


def _check_sqlite_file(path: Path, text: str) -> None:
    if path.is_dir():
        raise ValueError(f"The store {text!r} is a folder; choose a file in it, such as mmstudio.db")
    if not path.parent.is_dir():
        raise ValueError(f"The store {text!r} is in a folder that does not exist ({path.parent})")
    if not os.access(path.parent, os.W_OK):
        raise ValueError(f"The store {text!r} is in a folder mmstudio may not write to ({path.parent})")
