"""Stable-Baselines3 agents whose policies are NDI spiking networks pruned online by NSP."""
