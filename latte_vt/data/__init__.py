"""Data layers: video clips and transaction event logs, plus synthetic dataset generators."""
