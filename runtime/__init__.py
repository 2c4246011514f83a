"""What the runners share beyond the method: the command-line vocabulary and the run
folder's format (:mod:`runtime.cli`), stopping cleanly on a signal
(:mod:`runtime.stopping`) and the process's memory allocator (:mod:`runtime.allocator`).

It sits between the method (:mod:`nspdi_rl`, which imports nothing from here) and the
runners (``agents``, ``tasks``, ``experiments``).
"""
