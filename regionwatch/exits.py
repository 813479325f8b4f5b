"""The exit codes of every `regionwatch` command: a contract scripts and Kubernetes rely on.

docs/configuration.md ("Exit codes") documents them; keep the two in step.
"""

from __future__ import annotations

__all__ = ["EXIT_CONFIG", "EXIT_FAILING", "EXIT_LISTEN", "EXIT_OK", "EXIT_STORE"]

EXIT_OK = 0  # done; for `check`, every region healthy or degraded and no DNS answer wrong
EXIT_FAILING = 1  # `check`: a region failing or unknown, or a DNS answer wrong; `deploy`, `region`, `adopt`: refused; `alert-test`: not delivered
EXIT_CONFIG = 2  # the configuration is wrong (or the command line is, or its environment)
EXIT_STORE = 3  # the store cannot be used: corrupt, from a newer release, or not writable
EXIT_LISTEN = 4  # the API's address cannot be listened on (port in use, no permission)
