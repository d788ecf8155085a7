"""Model kinds: one file each, registered here in a plain dict (kind name -> (model class, config class))."""

from .base import DataSpec, MultimodalModel
from .bidnn import BiDNN, BiDNNConfig
from .cca import Cca, CcaConfig
from .cfa import Cfa, CfaConfig
from .cmgan import CMGAN, CMGANConfig
from .contrastive import Contrastive, ContrastiveConfig
from .corrae import CorrAE, CorrAEConfig
from .dcca import DCCA, DCCAConfig
from .gan_cls import GanCls, GanClsConfig
from .gan_proj import GanProj, GanProjConfig
from .kcca import Kcca, KccaConfig
from .multimodal_ae import MultimodalAE, MultimodalAEConfig

MODELS = {
    "gan_cls": (GanCls, GanClsConfig),
    "gan_proj": (GanProj, GanProjConfig),
    "cca": (Cca, CcaConfig),
    "kcca": (Kcca, KccaConfig),
    "cfa": (Cfa, CfaConfig),
    "multimodal_ae": (MultimodalAE, MultimodalAEConfig),
    "bidnn": (BiDNN, BiDNNConfig),
    "cmgan": (CMGAN, CMGANConfig),
    "corrae": (CorrAE, CorrAEConfig),
    "dcca": (DCCA, DCCAConfig),
    "contrastive": (Contrastive, ContrastiveConfig),
}

__all__ = ["MODELS", "DataSpec", "MultimodalModel"]
