"""GRU baseline: left padding never changes a real event's logit; causal."""

import torch

from latte_vt.models.gru import GRUScorer


def test_padded_batch_equals_each_sequence_alone_and_is_causal():
    torch.manual_seed(0)
    model = GRUScorer([10, 7], 3, dim=16, layers=2).eval()
    B, T, lengths = 3, 12, [12, 5, 1]
    cat, num = torch.randint(2, 7, (B, T, 2)), torch.randn(B, T, 3)
    mask = torch.zeros(B, T, dtype=torch.bool)
    for b, n in enumerate(lengths):
        mask[b, T - n :] = True
    out = model(cat, num, mask)  # (B, T)
    for b, n in enumerate(lengths):
        alone = model(cat[b : b + 1, T - n :], num[b : b + 1, T - n :])  # (1, n)
        torch.testing.assert_close(out[b, T - n :], alone[0], atol=1e-6, rtol=0)
    later = num.clone()
    later[:, 8:] += 5.0
    early = mask[:, :8]  # real events before the change (padding outputs are ignored)
    torch.testing.assert_close(model(cat, later, mask)[:, :8][early], out[:, :8][early])
    assert (model(cat, later, mask)[0, 8:] - out[0, 8:]).abs().max() > 1e-4
