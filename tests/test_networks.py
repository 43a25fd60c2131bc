"""team_code.nn.networks.for_inference: folding the batch norms changes the speed, not the answer."""
from __future__ import annotations

import copy

import torch
from torch import nn

from team_code.nn.networks import CRNN, PaperNet, for_inference


def _with_batch_norm_statistics(model: nn.Module) -> nn.Module:
    """Running statistics and affine weights far from the identity, as after training."""
    generator = torch.Generator().manual_seed(1)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm1d):
            size = module.num_features
            module.running_mean.copy_(torch.randn(size, generator=generator))
            module.running_var.copy_(torch.rand(size, generator=generator) * 2 + 0.2)
            module.weight.data.copy_(torch.rand(size, generator=generator) + 0.5)
            module.bias.data.copy_(torch.randn(size, generator=generator))
    return model.eval()


def test_crnn_with_its_batch_norms_folded_gives_the_same_logits():
    torch.manual_seed(0)
    model = _with_batch_norm_statistics(CRNN())
    x = torch.randn(3, 12, 10000) * 0.3
    x[2, :, 6000:] = 0  # a 12-s record, zero-padded
    with torch.inference_mode():
        before = model(x)
        folded = for_inference(copy.deepcopy(model))
        after = folded(x)
    assert not any(isinstance(m, nn.BatchNorm1d) for m in folded.modules())
    assert not folded.training
    torch.testing.assert_close(after, before, rtol=1e-5, atol=1e-5)


def test_the_paper_network_keeps_its_batch_norms_after_the_pools():
    model = _with_batch_norm_statistics(PaperNet(width=16))
    x = torch.randn(2, 12, 10000)
    with torch.inference_mode():
        before = model(x)
        after = for_inference(model)(x)
    assert sum(isinstance(m, nn.BatchNorm1d) for m in model.modules()) == 7
    torch.testing.assert_close(after, before)
