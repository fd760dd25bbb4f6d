import sys

from nanogate.cli import main

sys.exit(main())
