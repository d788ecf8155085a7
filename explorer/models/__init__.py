"""Model kinds: one file each, registered here in a plain dict (kind name -> (model class, config class))."""

from .base import DataSpec, MultimodalModel
from .bidnn import BiDNN, BiDNNConfig
from .ccl import CCL, CCLConfig
from .cca import Cca, CcaConfig
from .cfa import Cfa, CfaConfig
from .cmdn import CMDN, CMDNConfig
from .cmgan import CMGAN, CMGANConfig
from .contrastive import Contrastive, ContrastiveConfig
from .corrae import CorrAE, CorrAEConfig
from .dcca import DCCA, DCCAConfig
from .deepsm import DeepSM, DeepSMConfig
from .gan_cls import GanCls, GanClsConfig
from .gan_proj import GanProj, GanProjConfig
from .jrl import Jrl, JrlConfig
from .kcca import Kcca, KccaConfig
from .lgcfl import Lgcfl, LgcflConfig
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
    # the rest of CM-GANs' comparison table (Peng et al.): docs/models.md says what follows each paper
    "jrl": (Jrl, JrlConfig),
    "lgcfl": (Lgcfl, LgcflConfig),
    "cmdn": (CMDN, CMDNConfig),
    "deepsm": (DeepSM, DeepSMConfig),
    "ccl": (CCL, CCLConfig),
}

__all__ = ["MODELS", "DataSpec", "MultimodalModel"]
