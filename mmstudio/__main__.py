import sys

from mmstudio.cli import main

sys.exit(main())
