"""Beat-synchronous views of a window, built the way an electrocardiograph's measurement program builds them:
QRS complexes located, the median beat (where PR, QRS width and ST level are read, free of one beat's noise),
the beat least like it (an ectopic beat: a PAC's odd P wave, a PVC's wide QRS), and the RR intervals (rhythm:
prematurity, pauses, irregularity).

These are the measurements the nine definitions are written in, so they do not depend on how one source draws
or records a heart. Everything is torch on the batch inside the network's forward pass, so training, validation,
the driver and the explanations all see the same views of the same input.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from team_code.preprocess import FS

BEFORE = 250  # samples before the QRS peak kept in a beat: 0.5 s, room for a 400-ms PR
AFTER = 225   # and after it: 0.45 s, to the end of the T wave
MAX_BEATS = 64  # 20 s at 192 bpm
REFRACTORY = 100  # samples: two QRS peaks are at least 0.2 s apart (300 bpm)
SMOOTH = 30  # samples each side: the 120-ms moving integration of Pan and Tompkins
RR_FEATURES = 8


def locate_beats(x: torch.Tensor, length: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """QRS peaks of standardised (batch, leads, samples) windows: (positions, valid), each (batch, MAX_BEATS),
    positions in samples in time order; slots past a window's last beat are not valid.

    The detector is Pan and Tompkins' in essence: the leads' summed squared slope (squaring lifts the steep QRS
    far above a tall but slow T wave), integrated over 120 ms (QRS energy), whose local maxima within +-0.2 s
    above a third of the window's high level are QRS complexes. The high level is
    the 98th percentile over the recorded part, which a few noise spikes cannot move.
    """
    batch, _, samples = x.shape
    slope = (x[..., 1:] - x[..., :-1]).square().sum(dim=1, keepdim=True)
    energy = F.avg_pool1d(F.pad(slope, (0, 1)), 2 * SMOOTH + 1, stride=1, padding=SMOOTH,
                          count_include_pad=False)[:, 0]
    index = torch.arange(samples, device=x.device)
    recorded = index[None, :] < length[:, None]
    energy = energy.detach().double()
    level = torch.nanquantile(torch.where(recorded, energy, torch.full_like(energy, float("nan"))), 0.98, dim=1)
    level = torch.nan_to_num(level, nan=0.0)[:, None]
    # int16 samples make exact ties (two equal maxima a few samples apart); a tiny falling ramp keeps the first.
    energy = energy + level * 1e-6 * (1 - index / samples)[None, :]
    local = energy == F.max_pool1d(energy[:, None], 2 * REFRACTORY + 1, stride=1, padding=REFRACTORY)[:, 0]
    peak = local & recorded & (energy > level / 3) & (level > 0)
    rank = torch.cumsum(peak.long(), dim=1)  # 1 for the first peak, 2 for the second ...
    slot = torch.where(peak & (rank <= MAX_BEATS), rank, torch.zeros_like(rank))
    table = torch.zeros(batch, MAX_BEATS + 1, dtype=torch.long, device=x.device)
    table.scatter_(1, slot, index.expand(batch, -1) * (slot > 0))  # slot 0 collects the non-peaks; dropped
    positions = table[:, 1:]
    valid = torch.arange(1, MAX_BEATS + 1, device=x.device)[None, :] <= rank[:, -1:]
    return positions, valid


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


def beat_templates(x: torch.Tensor, positions: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """(batch, 3 x leads, BEFORE + AFTER): the median beat, the beat farthest from it (mean absolute
    difference) and the most premature beat (shortest RR against the one before: where a clinician looks for
    an early, odd P wave), over the beats whose whole span lies inside the window; zeros where there is none."""
    batch, leads, samples = x.shape
    # Only as many beat slots as the fullest window has: the rest are empty everywhere (same result, less work);
    # at least three, the fewest the most premature beat is looked for in.
    used = max(3, int(valid.sum(dim=1).max()))
    positions, valid = positions[:, :used], valid[:, :used]
    span = torch.arange(-BEFORE, AFTER, device=x.device)
    where = (positions[:, :, None] + span[None, None, :]).clamp(0, samples - 1)  # (batch, beats, span)
    inside = valid & (positions >= BEFORE) & (positions + AFTER <= samples)
    rows = torch.arange(batch, device=x.device)
    gathered = x.transpose(1, 2)[rows[:, None, None], where].permute(0, 1, 3, 2)  # (batch, beats, leads, span)
    nan = torch.full_like(gathered, float("nan"))
    # nanmedian is several times faster along the last, contiguous dimension (same values).
    median = torch.nanmedian(torch.where(inside[:, :, None, None], gathered, nan).permute(0, 2, 3, 1).contiguous(),
                             dim=-1).values
    median = torch.nan_to_num(median, nan=0.0)
    distance = (gathered - median[:, None]).abs().mean(dim=(2, 3))
    farthest = torch.where(inside, distance, torch.full_like(distance, -1.0)).argmax(dim=1)
    some = inside.any(dim=1)[:, None, None]
    rr = (positions[:, 1:] - positions[:, :-1]).float()
    ratio = rr[:, 1:] / rr[:, :-1].clamp(min=1)  # of beat k + 2 against beat k + 1
    eligible = inside[:, 2:] & valid[:, 1:-1] & valid[:, :-2]
    early = torch.where(eligible, ratio, torch.full_like(ratio, 1e3)).argmin(dim=1) + 2
    early_beat = gathered[rows, early] * eligible.any(dim=1)[:, None, None]
    return torch.cat([median, gathered[rows, farthest] * some, early_beat], dim=1)
