"""Mamba-2 mixer with two backends that share one set of parameters."""

from engine.ssm.mixer import Mamba2Mixer, MixerState

__all__ = ["Mamba2Mixer", "MixerState"]
