"""inference.length_batches and train.length_sorted_order: windows are batched by recorded length (so the
network's crop to the recorded part saves time), the outputs come back in window order whatever the batching,
and training batches stay shuffled."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from team_code.data import preprocess
from team_code.inference.ensemble import length_batches, predict_records, window_lengths
from team_code.labels import CLASSES
from team_code.training.train import POOL_BATCHES, length_sorted_order


def test_batches_are_full_or_of_similar_length_and_restore_the_order():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1000, preprocess.LENGTH + 1, size=200)
    lengths[:50] = preprocess.LENGTH
    batches, restore = length_batches(lengths, 16)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(200))
    np.testing.assert_array_equal(flat[restore], np.arange(200))
    for batch in batches:
        assert 1 <= len(batch) <= 16
        assert lengths[batch].min() >= 0.75 * lengths[batch].max()
    longest = [lengths[b].max() for b in batches]
    assert longest == sorted(longest, reverse=True)
    assert sum(len(b) == 16 for b in batches[:3]) == 3  # the 50 whole windows fill their batches


def test_window_lengths_follow_the_windows_of_each_record():
    signals = [np.ones((12, n), dtype=np.float32) for n in (3000, preprocess.LENGTH, 25_000, 41_000)]
    np.testing.assert_array_equal(window_lengths(signals), [3000] + [preprocess.LENGTH] * (1 + 3 + 5))


class WindowSummary(nn.Module):
    """Logits that depend only on a window's content: its mean and recorded length, so a mix-up shows."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        recorded = (x != 0).any(dim=1).sum(dim=1, keepdim=True).float() / preprocess.LENGTH
        mean = x.mean(dim=(1, 2))[:, None]
        return torch.cat([recorded * (k + 1) + mean * k for k in range(len(CLASSES))], dim=1)


def test_records_of_mixed_lengths_get_what_each_gets_alone():
    rng = np.random.default_rng(1)
    signals = [(rng.standard_normal((12, n)) + k).astype(np.float32)
               for k, n in enumerate([3000, 19_000, 4000, 30_000, 7000, 10_000, 61_000, 5000])]
    model = WindowSummary()
    together = predict_records([model], signals, torch.device("cpu"), batch_size=3)
    for k, signal in enumerate(signals):
        alone = predict_records([model], [signal], torch.device("cpu"))
        np.testing.assert_allclose(together.combined[k], alone.combined[0], rtol=1e-5)
        np.testing.assert_allclose(together.means[k], alone.means[0], rtol=1e-5)


def test_training_order_groups_lengths_within_pools_and_shuffles_the_batches():
    rng = np.random.default_rng(1)
    lengths = rng.integers(2000, 3 * preprocess.LENGTH, size=1100)  # records past 20 s give whole windows
    order = rng.permutation(1001) + 50  # a fold's records: not every index of the cache
    batch = 8
    pool = batch * POOL_BATCHES
    result = length_sorted_order(order, lengths, batch, np.random.default_rng(2))
    assert sorted(result.tolist()) == sorted(order.tolist())
    window = np.minimum(lengths, preprocess.LENGTH)
    pool_of = {int(i): k // pool for k, i in enumerate(order)}
    chunks = [result[i:i + batch] for i in range(0, len(result), batch)]
    assert [len(c) for c in chunks[:-1]] == [batch] * (len(chunks) - 1) and len(chunks[-1]) == 1001 % batch
    for chunk in chunks:
        members = order[[pool_of[int(i)] == pool_of[int(chunk[0])] for i in order]]
        ranked = members[np.argsort(-window[members], kind="stable")].tolist()
        start = ranked.index(int(chunk[0]))
        assert chunk.tolist() == ranked[start:start + len(chunk)]  # a run of its pool sorted by length
    pools = [pool_of[int(c[0])] for c in chunks[:-1]]
    assert pools != sorted(pools)  # the batches are shuffled across the epoch, not pool by pool
    np.testing.assert_array_equal(result, length_sorted_order(order, lengths, batch, np.random.default_rng(2)))
    spread = [window[c].max() - window[c].min() for c in chunks]
    random_spread = [window[c].max() - window[c].min() for c in np.array_split(order, len(chunks))]
    assert np.mean(spread) < 0.25 * np.mean(random_spread)
