"""Task metrics computed on plain arrays (shared by training, scoring and the benchmarks)."""
