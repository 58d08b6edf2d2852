"""Task models: tokenizer -> shared LatteEncoder -> head."""
