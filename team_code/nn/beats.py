"""Beat-synchronous views of a window, built the way an electrocardiograph's measurement program builds them:
QRS complexes located, the median beat (where PR, QRS width and ST level are read, free of one beat's noise),
the beat least like it (an ectopic beat: a PAC's odd P wave, a PVC's wide QRS), and the RR intervals (rhythm:
prematurity, pauses, irregularity).

These are the measurements the nine definitions are written in, so they do not depend on how one source draws
or records a heart. They depend on the signal only, not on any weights: `beat_views` is a stage of its own,
computed once per window batch and handed to every fold model (training, validation, the driver and the
explanations all see the same views of the same input).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F

from team_code.data.preprocess import FS

BEFORE = 250  # samples before the QRS peak kept in a beat: 0.5 s, room for a 400-ms PR
AFTER = 225   # and after it: 0.45 s, to the end of the T wave
MAX_BEATS = 64  # 20 s at 192 bpm
REFRACTORY = 100  # samples: two QRS peaks are at least 0.2 s apart (300 bpm)
SMOOTH = 30  # samples each side: the 120-ms moving integration of Pan and Tompkins
RR_FEATURES = 8
MEDIAN_BEATS = 9  # the median beat is taken over at most this many beats, spread evenly over the window
DISTANCE_STEP = 4  # the farthest beat is found on every 4th sample (125 Hz): plenty to tell an odd beat
FLAT = 0.01  # mV: a lead whose standard deviation is below this is flat (disconnected), left out of the scale


class Views(NamedTuple):
    """What the networks read of a batch of raw (batch, leads, samples) windows."""

    x: torch.Tensor          # the standardised windows (standardise); padding stays zero
    length: torch.Tensor     # (batch,) recorded samples before the zero padding
    templates: torch.Tensor  # (batch, 3 x leads, BEFORE + AFTER): median, farthest, most premature beat
    rr: torch.Tensor         # (batch, RR_FEATURES) rhythm measurements
    leads: torch.Tensor      # (batch, leads) bool: the leads recorded (not flat; standardise zeroes the others)


def beat_views(x: torch.Tensor) -> Views:
    """The views of raw (batch, leads, samples) windows in mV, zero-padded at the end."""
    length = recorded_length(x)
    x = standardise(x, length)
    positions, valid = locate_beats(x, length)
    return Views(x, length, beat_templates(x, positions, valid, length), rr_features(positions, valid),
                 recorded_leads(x))


def recorded_leads(x: torch.Tensor) -> torch.Tensor:
    """(batch, leads) bool: the leads of standardised windows with any non-zero sample (standardise zeroes the flat
    ones). A float tensor's any() reads non-zero directly, with no (batch, leads, samples) mask."""
    return x.any(dim=2)


def recorded_length(x: torch.Tensor) -> torch.Tensor:
    """Samples up to the last one where any lead is non-zero: the recorded part before the zero padding."""
    nonzero = x.any(dim=1)  # a float tensor's any() reads non-zero directly: no (batch, leads, samples) mask
    position = torch.arange(1, x.shape[-1] + 1, device=x.device)
    return (nonzero * position).amax(dim=1).clamp(min=1)


def standardise(x: torch.Tensor, length: torch.Tensor) -> torch.Tensor:
    """Remove each lead's offset and divide the record by one scale (the median over its live leads of the
    per-lead standard deviation), over the recorded part only; padding stays zero.

    A source's gain and baseline habits then carry no label, while the ratios between leads, which axis and
    bundle-branch patterns are made of, are kept. Flat leads (a disconnected electrode, a record with fewer
    leads) are left out of the median, where six of them would make the scale tiny and the others huge, and come
    out exactly zero: what reads the views can tell a lead that was not recorded (measurement_vector).
    """
    mask = (torch.arange(x.shape[-1], device=x.device)[None, :] < length[:, None]).to(x.dtype)[:, None, :]
    count = length.to(x.dtype)[:, None, None]
    # The samples past `length` are zero (recorded_length), so the masked sum is the plain sum. The whole-window
    # arithmetic below runs in place where autograd allows it: each fresh (batch, leads, samples) tensor costs
    # about as much as the arithmetic; the values are the same to the bit.
    mean = x.sum(dim=2, keepdim=True) / count
    centred = (x - mean).mul_(mask)  # in place even with a gradient: mul_'s backward reads the mask only
    std = ((centred * centred).sum(dim=2, keepdim=True) / count).sqrt()
    live = std > FLAT
    scale = torch.nanmedian(torch.where(live, std, torch.full_like(std, float("nan"))), dim=1, keepdim=True).values
    anything = live.any(dim=1, keepdim=True)
    scale = torch.where(anything, scale, std.amax(dim=1, keepdim=True))
    if torch.is_grad_enabled() and x.requires_grad:  # the squares above saved `centred` for the backward pass
        return centred * (live | ~anything) / scale.clamp(min=1e-3)
    return centred.mul_(live | ~anything).div_(scale.clamp(min=1e-3))


def locate_beats(x: torch.Tensor, length: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """QRS peaks of standardised (batch, leads, samples) windows: (positions, valid), each (batch, MAX_BEATS),
    positions in samples in time order; slots past a window's last beat are not valid.

    The detector is Pan and Tompkins' in essence: the leads' summed squared slope (squaring lifts the steep QRS
    far above a tall but slow T wave), integrated over 120 ms (QRS energy), whose local maxima within +-0.2 s
    above a third of the window's high level are QRS complexes. The high level is the 98th percentile over the
    recorded part, which a few noise spikes cannot move. Only steps between two recorded samples are slope: the
    step from the last recorded sample into the zero padding is not a QRS; nor is a peak whose integration window
    is cut by the recording's start or end.
    """
    batch, _, samples = x.shape
    index = torch.arange(samples, device=x.device)
    recorded = index[None, :] < length[:, None]
    with torch.no_grad():  # a detector's positions have no gradient: the squares in place
        slope = (x[..., 1:] - x[..., :-1]).square_().sum(dim=1, keepdim=True) * recorded[:, None, 1:]
    energy = F.avg_pool1d(F.pad(slope, (0, 1)), 2 * SMOOTH + 1, stride=1, padding=SMOOTH,
                          count_include_pad=False)[:, 0]
    energy = energy.double()
    level = high_level(energy, length)[:, None]
    # int16 samples make exact ties (two equal maxima a few samples apart); a tiny falling ramp keeps the first.
    energy = energy + level * 1e-6 * (1 - index / samples)[None, :]
    local = energy == running_max(energy, REFRACTORY)
    # A QRS cut by the recording's end peaks where the recording stops, not at the QRS, and would fake a premature
    # beat: a peak counts only when its integration window was recorded and the energy was seen to fall after it
    # (the last 120 ms hold no peak); at the start, the window must have been recorded.
    whole = (index[None, :] >= SMOOTH) & (index[None, :] < length[:, None] - 2 * SMOOTH)
    peak = local & whole & (energy > level / 3) & (level > 0)
    rank = torch.cumsum(peak.long(), dim=1)  # 1 for the first peak, 2 for the second ...
    slot = torch.where(peak & (rank <= MAX_BEATS), rank, torch.zeros_like(rank))
    table = torch.zeros(batch, MAX_BEATS + 1, dtype=torch.long, device=x.device)
    table.scatter_(1, slot, index.expand(batch, -1) * (slot > 0))  # slot 0 collects the non-peaks; dropped
    positions = table[:, 1:]
    valid = torch.arange(1, MAX_BEATS + 1, device=x.device)[None, :] <= rank[:, -1:]
    return positions, valid


HIGH_LEVEL = 0.98  # the QRS detector's high level: this quantile of the recorded slope energy


def high_level(energy: torch.Tensor, length: torch.Tensor) -> torch.Tensor:
    """(batch,) the HIGH_LEVEL quantile of each row of (batch, samples) over its first `length` samples (0 where
    none): torch.nanquantile's linear interpolation, read from the top 2 % found by topk instead of a full sort
    (the same value, bit for bit, at a fraction of the cost)."""
    samples = energy.shape[-1]
    count = length.clamp(max=samples)
    recorded = torch.arange(samples, device=energy.device)[None, :] < count[:, None]
    k = min(samples, math.ceil((1 - HIGH_LEVEL) * (samples - 1)) + 2)
    top = torch.where(recorded, energy, torch.full_like(energy, float("-inf"))).topk(k, dim=1).values
    rank = torch.tensor(HIGH_LEVEL, dtype=energy.dtype, device=energy.device) * (count - 1).to(energy.dtype)
    below, above = rank.long(), rank.ceil().long()  # ascending positions, as nanquantile takes them
    from_top = lambda position: top.gather(1, (count - 1 - position).clamp(0, k - 1)[:, None])[:, 0]  # noqa: E731
    level = torch.lerp(from_top(below), from_top(above), rank - below.to(energy.dtype))
    return torch.where(count > 0, level, torch.zeros_like(level))


def running_max(x: torch.Tensor, radius: int) -> torch.Tensor:
    """The maximum of (batch, samples) over each sample's +-radius neighbours (inside the row): what
    max_pool1d(kernel 2 radius + 1, stride 1, padding radius) gives, by doubling windows (log2 of the width
    elementwise maxima instead of the width)."""
    width = 2 * radius + 1
    span = 1
    out = F.pad(x, (radius, radius), value=float("-inf"))
    while 2 * span <= width:  # out[i] is the maximum over [i, i + 2 span) of the padded row
        out = torch.maximum(out[:, :-span], out[:, span:])
        span *= 2
    samples = x.shape[-1]
    return torch.maximum(out[:, :samples], out[:, width - span:width - span + samples])


def median_of_chosen(chosen: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    """(batch, leads, span): the median over dim 1 of (batch, MEDIAN_BEATS, leads, span) beats, of the first
    `count` (batch, 1) of them (the lower of the two middle values when even, as torch.nanmedian; zeros where
    none).

    A median-of-9 selection network (19 compare-exchanges of whole tensors) in place of nanmedian's sort: the
    missing beats are filled half with -inf and half with +inf, which leaves the present beats' median in the
    middle slot. It picks the same element nanmedian picks, at about a tenth of the cost.
    """
    assert chosen.shape[1] == MEDIAN_BEATS == 9, "the network below is the median of exactly 9"
    rank = torch.arange(MEDIAN_BEATS, device=chosen.device)[None, :]
    missing = MEDIAN_BEATS - count.clamp(max=MEDIAN_BEATS)
    low = (rank >= count) & (rank - count < (missing + 1) // 2)  # the first half (rounded up) of the missing
    fill = torch.where(low, float("-inf"), float("inf"))[:, :, None, None].to(chosen.dtype)
    beat = list(torch.where((rank >= count)[:, :, None, None], fill, chosen).unbind(1))

    def order(a: int, b: int) -> None:
        beat[a], beat[b] = torch.minimum(beat[a], beat[b]), torch.maximum(beat[a], beat[b])

    # Paeth's median-of-9 network (as in Devillard's "Fast median search", 1998).
    for a, b in ((1, 2), (4, 5), (7, 8), (0, 1), (3, 4), (6, 7), (1, 2), (4, 5), (7, 8), (0, 3), (5, 8), (4, 7),
                 (3, 6), (1, 4), (2, 5), (4, 7), (4, 2), (6, 4), (4, 2)):
        order(a, b)
    return torch.where((count > 0)[:, :, None], beat[4], torch.zeros_like(beat[4]))


def rr_features(positions: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """(batch, RR_FEATURES) rhythm measurements from the beat positions, zero where fewer than three beats.

    log mean RR, its coefficient of variation, RMSSD / mean RR, the shortest and longest RR against the median,
    the most premature beat (smallest RR over the one before) and the largest lengthening (largest RR over the
    one before: the pause after a premature beat), and the fraction of successive changes above 12.5 %
    (irregularity, AF's mark).
    """
    rr = (positions[:, 1:] - positions[:, :-1]).float() / FS
    ok = valid[:, 1:] & valid[:, :-1]
    count = ok.sum(dim=1).clamp(min=1).float()
    mean = (rr * ok).sum(dim=1) / count
    safe_mean = mean.clamp(min=1e-3)
    sd = (((rr - mean[:, None]) ** 2) * ok).sum(dim=1).div(count).sqrt()
    median = torch.nanmedian(torch.where(ok, rr, torch.full_like(rr, float("nan"))), dim=1).values
    median = torch.nan_to_num(median, nan=1.0).clamp(min=1e-3)
    pair = ok[:, 1:] & ok[:, :-1]  # successive intervals
    ratio = rr[:, 1:] / rr[:, :-1].clamp(min=1e-3)
    pair_count = pair.sum(dim=1).clamp(min=1).float()
    rmssd = ((((rr[:, 1:] - rr[:, :-1]) ** 2) * pair).sum(dim=1) / pair_count).sqrt()
    big = pair & ((ratio - 1).abs() > 0.125)
    shortest = torch.where(ok, rr, torch.full_like(rr, 1e3)).amin(dim=1) / median
    longest = torch.where(ok, rr, torch.zeros_like(rr)).amax(dim=1) / median
    premature = torch.where(pair, ratio, torch.full_like(ratio, 1e3)).amin(dim=1)
    pause = torch.where(pair, ratio, torch.zeros_like(ratio)).amax(dim=1)
    features = torch.stack([safe_mean.log(), sd / safe_mean, rmssd / safe_mean, shortest, longest,
                            premature, pause, big.sum(dim=1) / pair_count], dim=1)
    enough = (valid.sum(dim=1) >= 3)[:, None]
    return torch.where(enough, features.clamp(-5, 5), torch.zeros_like(features))


def beat_templates(x: torch.Tensor, positions: torch.Tensor, valid: torch.Tensor,
                   length: torch.Tensor) -> torch.Tensor:
    """(batch, 3 x leads, BEFORE + AFTER): the median beat, the beat farthest from it (mean absolute
    difference) and the most premature beat (shortest RR against the one before: where a clinician looks for
    an early, odd P wave), over the beats whose whole span was recorded (none reaches into the padding); zeros
    where there is none.

    The median is taken over MEDIAN_BEATS beats spread evenly over the window (all of them when there are
    fewer): as robust to a few ectopic beats as the median of all, at a fraction of the cost.
    """
    batch, leads, samples = x.shape
    inside = valid & (positions >= BEFORE) & (positions + AFTER <= length[:, None])
    rows = torch.arange(batch, device=x.device)[:, None]
    # A view (batch, leads, start, BEFORE + AFTER); a window shorter than one beat's span holds no beat inside.
    spans = F.pad(x, (0, max(0, BEFORE + AFTER - samples))).unfold(2, BEFORE + AFTER, 1)

    def gather(slots: torch.Tensor, step: int = 1) -> torch.Tensor:
        """(batch, beats, leads, span) of the beats in `slots` (batch, beats), every `step`-th sample of each.
        Only beats `inside` are read downstream; a beat nearer the window's edges is shifted to fit."""
        start = (positions.gather(1, slots) - BEFORE).clamp(0, spans.shape[2] - 1)
        return spans[..., ::step][rows, :, start]

    count = inside.sum(dim=1, keepdim=True)
    rank = torch.arange(MEDIAN_BEATS, device=x.device)[None, :]
    spread = torch.where(count > MEDIAN_BEATS, (2 * rank + 1) * count // (2 * MEDIAN_BEATS), rank)
    first = torch.argsort((~inside).to(torch.int8), dim=1, stable=True)  # inside slots first, in time order
    chosen = gather(first.gather(1, spread.clamp(max=MAX_BEATS - 1)))
    median = median_of_chosen(chosen, count)

    with torch.no_grad():  # which beat is farthest has no gradient: the differences in place
        coarse = gather(torch.arange(MAX_BEATS, device=x.device).expand(batch, -1), DISTANCE_STEP)
        distance = coarse.sub_(median[:, None, :, ::DISTANCE_STEP]).abs_().mean(dim=(2, 3))
    farthest = torch.where(inside, distance, torch.full_like(distance, -1.0)).argmax(dim=1)
    rr = (positions[:, 1:] - positions[:, :-1]).float()
    ratio = rr[:, 1:] / rr[:, :-1].clamp(min=1)  # of beat k + 2 against beat k + 1
    eligible = inside[:, 2:] & valid[:, 1:-1] & valid[:, :-2]
    early = torch.where(eligible, ratio, torch.full_like(ratio, 1e3)).argmin(dim=1) + 2
    odd = gather(torch.stack([farthest, early], dim=1))
    odd = torch.where(torch.stack([inside.any(dim=1), eligible.any(dim=1)], dim=1)[:, :, None, None], odd,
                      torch.zeros_like(odd))
    return torch.cat([median, odd[:, 0], odd[:, 1]], dim=1)
