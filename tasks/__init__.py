"""Speech and event-vision runners for the NDI / NSP networks.

Imports nspdi_rl; never agents or envs.
"""
