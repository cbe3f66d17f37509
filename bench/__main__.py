"""`python -m bench` (make bench): every benchmark, each figure beside its ceiling from the same run."""

import subprocess
import sys

BENCHES = ["bench.form_page", "bench.submissions", "bench.queue_dashboard", "bench.attachment_memory"]


def main() -> int:
    failed = 0
    for module in BENCHES:
        print(f"\n== {module}", flush=True)
        failed |= subprocess.call([sys.executable, "-m", module])
    return failed


if __name__ == "__main__":
    raise SystemExit(main())
