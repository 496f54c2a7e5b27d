#!/usr/bin/env bash
# Build the one-folder app with PyInstaller: dist/mmstudio/mmstudio (see packaging/README.md).
#   packaging/build.sh                      # with .venv/bin/python if there is one, else python3
#   PYTHON=/path/to/python packaging/build.sh
#   DISTPATH=/tmp/out WORKPATH=/tmp/work packaging/build.sh   # build outside the repository
# On Windows (Git Bash) it then builds the installer, dist/mmstudio-VERSION-setup.exe, with Inno Setup's
# compiler (packaging/windows/mmstudio.iss) when iscc is on the PATH, in its usual folder, or in $ISCC.
# The Python that builds is the one whose packages are bundled (torch with or without CUDA, PySide6):
# build on each target OS, in an environment with mmstudio installed (pip install -e .).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${PYTHON:-}" ]; then
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
DISTPATH=${DISTPATH:-dist}
WORKPATH=${WORKPATH:-build/pyinstaller}

if ! "$PYTHON" -c "import PyInstaller" 2>/dev/null; then
  echo "PyInstaller is missing: installing it into $("$PYTHON" -c 'import sys; print(sys.prefix)')"
  "$PYTHON" -m pip install 'pyinstaller>=6,<7'
fi
"$PYTHON" -c "import mmstudio" || { echo "error: mmstudio is not importable by $PYTHON; pip install -e . first" >&2; exit 2; }

# The program's icon on Windows (.ico) and macOS (.icns), from the committed PNGs (Pillow is a dependency).
mkdir -p packaging/build
"$PYTHON" - <<'PY'
from PIL import Image

big = Image.open("resources/icons/hicolor/512x512/apps/io.github.mmstudio.mmstudio.png")
big.save("packaging/build/mmstudio.ico", sizes=[(s, s) for s in (16, 24, 32, 48, 64, 128, 256)])
big.save("packaging/build/mmstudio.icns")
PY

start=$(date +%s)
"$PYTHON" -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath "$DISTPATH" --workpath "$WORKPATH" packaging/mmstudio.spec
elapsed=$(( $(date +%s) - start ))
size=$(du -sh "$DISTPATH/mmstudio" | cut -f1)
echo "built $DISTPATH/mmstudio in ${elapsed}s: $size"
echo "try it: $DISTPATH/mmstudio/mmstudio --version"

case "$(uname -s)" in
  MINGW* | MSYS* | CYGWIN*)
    if [ -z "${ISCC:-}" ]; then
      ISCC=$(command -v iscc || command -v ISCC || true)
      for candidate in "/c/Program Files (x86)/Inno Setup 6/ISCC.exe" "/c/Program Files/Inno Setup 6/ISCC.exe"; do
        if [ -z "$ISCC" ] && [ -x "$candidate" ]; then ISCC=$candidate; fi
      done
    fi
    if [ -z "$ISCC" ]; then
      echo "no installer: Inno Setup's iscc was not found (install Inno Setup 6, or set ISCC=/path/to/ISCC.exe)"
    else
      # Git Bash would rewrite /D... and /Q as paths: the arguments go to iscc as written.
      MSYS2_ARG_CONV_EXCL='*' "$ISCC" /Q "/DDistDir=$(cygpath -w "$DISTPATH")" \
        "$(cygpath -w packaging/windows/mmstudio.iss)"
      echo "installer: $(ls "$DISTPATH"/mmstudio-*-setup.exe)"
    fi
    ;;
esac
