"""Model kinds: one file each, registered here in a plain dict (kind name -> (model class, config class))."""

from .base import DataSpec, MultimodalModel
from .gan_cls import GanCls, GanClsConfig

MODELS = {
    "gan_cls": (GanCls, GanClsConfig),
}

__all__ = ["MODELS", "DataSpec", "MultimodalModel"]
