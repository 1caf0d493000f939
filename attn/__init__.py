"""attn: a command-line training toolkit for attention models on text and EEG."""

import os as _os
import time as _time

__version__ = "0.1.0"

# The process clock's anchor (attn.process): perf_counter and process CPU seconds when attn was first imported.
IMPORTED_AT = (_time.perf_counter(), _time.process_time())

if _os.environ.get("ATTN_PROFILE_STARTUP", "") not in ("", "0"):
    from attn.process import print_startup_profile_at_exit

    print_startup_profile_at_exit()
