"""team_code.nn.networks: folding the batch norms and cropping the padding change the speed, not the answer."""
from __future__ import annotations

import copy
import math

import torch
from torch import nn

from team_code.nn import networks
from team_code.nn.networks import CRNN, PaperNet, feature_steps, for_inference


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


def test_feature_steps_counts_what_the_convolutions_give():
    model = CRNN()
    for samples in (640, 1000, 6401, 10000):
        with torch.inference_mode():
            assert model.features(torch.zeros(1, 12, samples)).shape[-1] == feature_steps(samples)


def test_padded_windows_cropped_to_their_recorded_part_give_the_logits_of_the_whole_window(monkeypatch):
    """Each window alone is cropped to its own length; in a batch with a 20-s window nothing is cropped. The
    logits must agree, for lengths on and off the 64-sample grid."""
    torch.manual_seed(0)
    model = _with_batch_norm_statistics(CRNN())
    lengths = [300, 640, 1000, 2999, 5000, 6401, 9000, 10000]
    x = torch.randn(len(lengths), 12, 10000) * 0.3
    for i, length in enumerate(lengths):
        x[i, :, length:] = 0
    with torch.inference_mode():
        whole_batch = model(x)
        alone = torch.cat([model(x[i:i + 1]) for i in range(len(lengths))])
        widths = []
        real_crop = networks.crop_to_recorded
        monkeypatch.setattr(networks, "crop_to_recorded", lambda w, s: widths.append(real_crop(w, s).shape[-1])
                            or real_crop(w, s))
        torch.cat([model(x[i:i + 1]) for i in range(len(lengths))])
    assert widths[0] == networks.CROP_GRAIN and widths[-1] == 10000 and widths == sorted(widths)
    torch.testing.assert_close(alone, whole_batch, rtol=1e-5, atol=1e-5)


def test_training_crops_the_batch_to_its_longest_recorded_window():
    """In training too the convolutions see the batch cropped after its longest window: the crop is where
    training on 10-s records saves half the work."""
    model = CRNN().train()
    x = torch.randn(4, 12, 10000)
    x[:, :, 3000:] = 0
    x[0, :, 2000:] = 0
    seen = []
    model.features.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0].shape[-1]))
    model(x).sum().backward()
    steps = math.ceil(3000 * networks.feature_steps(10000) / 10000)  # the time steps 3,000 samples reach
    needed = networks.FEATURE_STRIDE * (steps + 1)
    assert seen == [networks.CROP_GRAIN * math.ceil(needed / networks.CROP_GRAIN)] and seen[0] < 10000
