"""Memory-hard KDFs run a bounded number at a time per process: each takes 19 or 64 MiB, and a
threaded server asked for hundreds at once must queue them rather than run out of memory."""

import os
import threading

KDF_SLOTS = threading.BoundedSemaphore(max(2, os.cpu_count() or 2))
