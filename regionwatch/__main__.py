import sys

from regionwatch.cli import main

sys.exit(main())
