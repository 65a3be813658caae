"""Settings for the whole test run."""

from __future__ import annotations

import signal

# A background job of a non-interactive shell (`bash -c 'pytest &'`, some CI runners) starts
# with SIGINT ignored. Then `_thread.interrupt_main()`, which the Ctrl-C tests use, does
# nothing, and every Python the tests start ignores Ctrl-C too (an ignored signal stays
# ignored across exec). The tests are about what Ctrl-C does, so Python's own handler is put
# back: the children then start with the default disposition and install theirs.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
