"""`python -m regionwatch`: SIGTERM stops it as Ctrl-C does from the first instant (the
imports take a moment), then the command line."""

import signal
import sys

try:
    # Inside the try: a Ctrl-C that lands while the handler is being installed (the test that
    # signals as soon as SIGTERM is caught sends SIGINT at that very instant) is a clean stop.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    from regionwatch.cli import main
except KeyboardInterrupt:
    # Stopped while importing: nothing started, nothing to clean; a `check` cut short is
    # not "all is well".
    sys.exit(130 if sys.argv[1:2] == ["check"] else 0)

sys.exit(main())
