"""The project's own networks, for inputs timm's image models do not fit: built by the
registry from ``module:mlmodels.networks.NAME`` with the same (num_classes, in_chans)
arguments as a timm model.
"""

import torch
from torch import nn
from torch.nn import functional
from torch.nn.utils.rnn import pack_padded_sequence


class RealBogusCNN(nn.Module):
    """A small VGG-style network on the science / template / difference triplet, after ZTF's
    braai (Duev et al. 2019): real transients are point sources in the difference image,
    bogus ones are cosmic rays, dipoles from misaligned subtractions and trails."""

    def __init__(self, num_classes, in_chans, widths=(8, 16, 32)):
        super().__init__()
        self.num_classes = num_classes

        def block(inputs, outputs):
            return nn.Sequential(nn.Conv2d(inputs, outputs, 3, padding=1), nn.BatchNorm2d(outputs), nn.ReLU(),
                                 nn.Conv2d(outputs, outputs, 3, padding=1), nn.BatchNorm2d(outputs), nn.ReLU(),
                                 nn.MaxPool2d(2))  # fmt: skip

        first, second, third = widths
        self.features = nn.Sequential(block(in_chans, first), block(first, second), block(second, third))
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(third, num_classes))

    def forward(self, stamps):
        return self.head(self.features(stamps))


class LightCurveGRU(nn.Module):
    """A GRU over a light curve's points, oldest to newest, spacing given as features (the
    sampling is irregular), reading only the points present (the last feature row marks them)."""

    def __init__(self, num_classes, in_chans, hidden=64):
        super().__init__()
        self.num_classes = num_classes
        self.gru = nn.GRU(in_chans - 1, hidden, num_layers=2, batch_first=True, dropout=0.1)
        self.head = nn.Linear(hidden, num_classes)

    def forward(self, sequences):  # (batch, features, length), right-aligned
        present = sequences[:, -1]
        lengths = present.sum(1).clamp(min=1).long()
        # Left-align the points so packing reads each curve from its first point.
        order = torch.argsort(present, dim=1, stable=True, descending=True)
        steps = torch.gather(sequences[:, :-1], 2, order[:, None].expand(-1, sequences.shape[1] - 1, -1))
        packed = pack_padded_sequence(steps.transpose(1, 2), lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, hidden = self.gru(packed)
        return self.head(hidden[-1])


def real_bogus_cnn_slim(num_classes, in_chans):
    """New real-bogus models: half the widths of ``real_bogus_cnn``, a quarter of the work
    (0.6 ms an alert on one CPU thread instead of 1.2: on a small machine the classifier is
    the step every live alert waits for). It needs more examples to learn as well: trained on
    3,000 synthetic triplets it scores 0.999–1.000 on unseen ones, as the wider one does, but
    on 1,000 for 10 epochs only ~0.85."""
    return RealBogusCNN(num_classes, in_chans)


def real_bogus_cnn(num_classes, in_chans):
    """The first real-bogus architecture (16, 32, 64 filters, as braai): versions registered
    under this name are built with it, so they keep loading."""
    return RealBogusCNN(num_classes, in_chans, widths=(16, 32, 64))


def light_curve_gru(num_classes, in_chans):
    return LightCurveGRU(num_classes, in_chans)


class SetFusionTransformer(nn.Module):
    """Learned multi-site fusion: one class for a set of observations of the same object, of
    any length, from any of the array's sites.

    Each observation's cutout is encoded by one shared CNN into a ``width``-dimensional
    embedding; its site enters as a learned embedding (in place of a position: the set has no
    order) and its conditions (seeing, sky, a defect flag) through a linear layer. A
    transformer encoder lets the observations compare notes; a learned query then attends
    over them, and its attention weights are how far each observation was trusted. Heads: the
    class logits, and the uncertainty (a logit of the chance the class is wrong). Beside them,
    each observation's own class logits from its embedding alone: the single-site predictions
    (and their average) it is compared with, from the same encoder.

    ``forward(images (B, N, C, H, W), sites (B, N) long, features (B, N, F), present (B, N) bool)``
    returns a dict: ``logits`` (B, classes), ``uncertainty`` (B,), ``single`` (B, N, classes),
    ``attention`` (B, N) summing to one over the present observations.
    """

    def __init__(self, num_classes, in_chans, *, sites, features, width=256, layers=4, heads=8):
        super().__init__()
        self.num_classes = num_classes

        def block(inputs, outputs):
            return nn.Sequential(nn.Conv2d(inputs, outputs, 3, padding=1), nn.BatchNorm2d(outputs), nn.GELU(),
                                 nn.MaxPool2d(2))  # fmt: skip

        self.encoder = nn.Sequential(block(in_chans, 32), block(32, 64), block(64, 128), block(128, 128),
                                     nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, width))  # fmt: skip
        self.site = nn.Embedding(sites, width)
        self.conditions = nn.Linear(features, width)
        layer = nn.TransformerEncoderLayer(width, heads, dim_feedforward=2 * width, dropout=0.1, batch_first=True,
                                           norm_first=True)  # fmt: skip
        self.transformer = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.query = nn.Parameter(torch.zeros(1, 1, width))
        self.pool = nn.MultiheadAttention(width, heads, batch_first=True)
        self.norm = nn.LayerNorm(width)
        self.classify = nn.Linear(width, num_classes)
        self.doubt = nn.Linear(width, 1)
        self.single = nn.Linear(width, num_classes)

    def forward(self, images, sites, features, present):
        batch, count = images.shape[:2]
        embedded = self.encoder(images.flatten(0, 1)).view(batch, count, -1)
        tokens = embedded + self.site(sites) + self.conditions(features)
        absent = ~present
        tokens = self.transformer(tokens, src_key_padding_mask=absent)
        pooled, attention = self.pool(self.query.expand(batch, -1, -1), tokens, tokens, key_padding_mask=absent)
        pooled = self.norm(pooled[:, 0])
        return {"logits": self.classify(pooled), "uncertainty": self.doubt(pooled)[:, 0],
                "single": self.single(embedded), "attention": attention[:, 0]}  # fmt: skip


def fusion_loss(outputs, labels, present):
    """Cross-entropy of the fused class, plus each present observation's own (so the single-site
    head is a fair rival, trained on the same examples), plus the uncertainty head's guess of
    whether the fused class is wrong."""
    fused = functional.cross_entropy(outputs["logits"], labels)
    single = functional.cross_entropy(outputs["single"][present], labels[:, None].expand_as(present)[present])
    wrong = (outputs["logits"].argmax(1) != labels).float()
    doubt = functional.binary_cross_entropy_with_logits(outputs["uncertainty"], wrong)
    return fused + 0.5 * single + 0.2 * doubt


def set_fusion_transformer(num_classes, in_chans):
    """The seed's learned fusion: 4 layers, 8 heads, 256 dimensions, over the array's sites and
    the conditions ``mlmodels.multi_site`` describes each observation by."""
    from .multi_site import FEATURES, SITES

    return SetFusionTransformer(num_classes, in_chans, sites=len(SITES), features=len(FEATURES))
