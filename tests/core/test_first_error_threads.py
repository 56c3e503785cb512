"""The first errors, raised by several threads at once, do not deadlock the process.

`import optype_dlpack` leaves the errors module to the first error. Importing it runs Python
code, during which another thread may take the GIL and raise an error too: the extension must
not wait for the first thread's import while holding the GIL (a C++ function-local static
initialiser did exactly that, and hung the process).
"""

from __future__ import annotations

from tests.support.child import run_code

_FIRST_ERRORS_IN_THREADS = """
import sys, threading, time
import importlib.abc

class SlowErrorsImport(importlib.abc.MetaPathFinder):
    # The errors module takes a while to import, running Python code (so switching threads)
    def find_spec(self, name, path=None, target=None):
        if name == "optype_dlpack._errors":
            deadline = time.perf_counter() + 0.2
            while time.perf_counter() < deadline:
                pass
        return None

sys.meta_path.insert(0, SlowErrorsImport())

import numpy as np
import optype_dlpack as od

assert "optype_dlpack._errors" not in sys.modules
failing = od.Expect(ndim=3)
x = np.zeros((2, 2))
raised = []

def first_error():
    try:
        failing.check(x)
    except ValueError as error:
        raised.append(type(error).__name__)

threads = [threading.Thread(target=first_error) for _ in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(sorted(set(raised)), len(raised))
"""


def test_threads_raising_the_first_errors_at_once_do_not_deadlock() -> None:
    for _ in range(3):
        result = run_code(_FIRST_ERRORS_IN_THREADS, timeout=60)
        assert result.returncode == 0, result.stderr
        assert result.stdout.split() == ["['DLPackValidationError']", "8"]
