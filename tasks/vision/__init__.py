"""Event-vision tasks: DVS128 Gesture, CIFAR10-DVS (tonic), CIFAR10 and a synthetic DVS set.

``python -m tasks.vision`` trains an NDI convolutional spiking network on any of
them with online NSP pruning, through the same training loop as the speech
runner (:mod:`tasks.training`).
"""
