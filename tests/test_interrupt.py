"""A Ctrl-C is never lost (asymprune.interrupt): one that lands in a finalizer, where Python would print and
drop the KeyboardInterrupt, is kept and raised at the next safe point; elsewhere it is raised at once."""

import subprocess
import sys

from tests.helpers import interruptible

SCRIPT = """
import os, signal, time
from asymprune import interrupt
interrupt.install()

class Finalized:
    def __del__(self):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.2)  # the handler runs here, inside __del__

obj = Finalized()
del obj
print("went on after the finalizer", flush=True)
try:
    interrupt.raise_pending()
    print("nothing pending")
except KeyboardInterrupt:
    print("raised at the safe point")
interrupt.raise_pending()
print("pending cleared")
try:
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(2)
    print("not raised")
except KeyboardInterrupt:
    print("raised at once")
"""


def test_a_ctrl_c_inside_a_finalizer_is_raised_at_the_next_safe_point():
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120,
                          preexec_fn=interruptible)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:4] == ["went on after the finalizer", "raised at the safe point",
                                           "pending cleared", "raised at once"], done.stdout
    assert "Exception ignored" not in done.stderr and "Traceback" not in done.stderr, done.stderr
