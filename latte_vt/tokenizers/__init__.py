"""Tokenizers: video clips and transaction events -> (B, N, D) tokens for the shared encoder."""
