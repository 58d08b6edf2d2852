"""Transaction tokenizer: shapes, padding ids, range checks."""

import pytest
import torch

from latte_vt.tokenizers.transactions import TransactionTokenizer


def test_tokens_per_event_and_padding_embedding_is_zero():
    tok = TransactionTokenizer([5, 7], num_numeric=3, dim=16)
    cat = torch.tensor([[[2, 3], [0, 0]]])
    num = torch.randn(1, 2, 3)
    assert tok(cat, num).shape == (1, 2, 16)
    assert tok.fields[0].weight[0].abs().sum() == 0


def test_bad_ids_and_shapes_raise():
    tok = TransactionTokenizer([5, 7], num_numeric=3, dim=16)
    with pytest.raises(ValueError, match="out of range"):
        tok(torch.tensor([[[5, 1]]]), torch.zeros(1, 1, 3))
    with pytest.raises(ValueError, match=r"expected cat \(\.\.\., 2\) and num \(\.\.\., 3\)"):
        tok(torch.zeros(1, 1, 3, dtype=torch.long), torch.zeros(1, 1, 3))
    with pytest.raises(ValueError, match="padding and unknown"):
        TransactionTokenizer([1], 0, 8)
