"""nspdi_rl: spiking networks with nonlinear dendritic integration (NDI) and
nonlinear synaptic pruning (NSP).

The maths lives in :mod:`nspdi_rl.functional`; layers in :mod:`nspdi_rl.layers`;
networks in :mod:`nspdi_rl.network`; pruning schedules in :mod:`nspdi_rl.pruning`;
metrics in :mod:`nspdi_rl.metrics`; save / load in :mod:`nspdi_rl.checkpoint`.
"""

from nspdi_rl.checkpoint import load_model, save_model
from nspdi_rl.functional import ndi_current, nsp_weight, spike_fn
from nspdi_rl.layers import (
    NDIConv2d,
    NDILinear,
    NSPConfig,
    NSPConv2d,
    NSPLayer,
    NSPLinear,
    NSPWeight,
)
from nspdi_rl.metrics import (
    SynOpsCounter,
    connectivity_per_layer,
    energy_pj,
    information_efficiency,
    layer_stats,
    mutual_information_bits,
    sparsity,
)
from nspdi_rl.network import (
    LIFConfig,
    SpikingNetConfig,
    SpikingNetwork,
    build_network,
    reset_states,
)
from nspdi_rl.pruning import Pruner, PruningDriver, PruningSchedule, schedule_fraction

__version__ = "0.1.0"

__all__ = [
    "LIFConfig",
    "NDIConv2d",
    "NDILinear",
    "NSPConfig",
    "NSPConv2d",
    "NSPLayer",
    "NSPLinear",
    "NSPWeight",
    "Pruner",
    "PruningDriver",
    "PruningSchedule",
    "SpikingNetConfig",
    "SpikingNetwork",
    "SynOpsCounter",
    "build_network",
    "connectivity_per_layer",
    "energy_pj",
    "information_efficiency",
    "layer_stats",
    "load_model",
    "mutual_information_bits",
    "nsp_weight",
    "ndi_current",
    "reset_states",
    "save_model",
    "schedule_fraction",
    "sparsity",
    "spike_fn",
]
