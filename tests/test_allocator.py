import subprocess
import sys

import pytest

# Where does a 128 MB block live? glibc serves blocks over 32 MB with a fresh mmap and unmaps
# them on free, so each one is faulted in again; with freed memory reused it comes from the
# heap ("[heap]" in /proc/self/maps), where a freed block stays mapped for the next.
PROBE = """
import sys
import torch
from unembed.runtime.allocator import reuse_freed_memory
if sys.argv[1] == "reuse":
    assert reuse_freed_memory()
block = torch.ones(32 * 1024 * 1024)
address = block.data_ptr()
for line in open("/proc/self/maps"):
    span, *rest = line.split()
    start, end = (int(a, 16) for a in span.split("-"))
    if start <= address < end:
        print(rest[-1] if len(rest) == 5 else "anonymous")
"""


def region(mode: str) -> str:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True)
    return out.stdout.split()[-1]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is glibc's (Linux)")
def test_large_blocks_come_from_the_heap_once_freed_memory_is_reused():
    assert region("plain") == "anonymous"
    assert region("reuse") == "[heap]"
