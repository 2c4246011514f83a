"""Speech tasks: SHD (tonic) and Speech Commands keyword spotting (torchaudio).

``python -m tasks.speech`` trains an NDI spiking network on either with online
NSP pruning; ``python -m tasks.speech.make_espeak_kws`` synthesises a small
keyword-spotting set in the Speech Commands layout with espeak-ng and sox.
"""
