"""The kernels: pure numpy judgements over (device, slot) grids, one file per kind of sign."""
