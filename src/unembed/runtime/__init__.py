"""Where and how work runs: the device, the number format of matrix products, the allocator,
and how much memory a process holds."""
