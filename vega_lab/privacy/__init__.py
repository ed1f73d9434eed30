"""Privacy-preserving ML: accounting (epsilon for a DP-SGD run, noise for a target epsilon),
DP-SGD training on Opacus (`train_private`), and audits that measure the privacy a training
really has (`run_audit`, `membership_inference`).

Importing this package stays cheap: Opacus and SciPy are loaded only when a number is
computed. Bad input raises ``vega_lab.errors.PrivacyError`` (or ``UnknownNameError`` for an
unknown accountant name).
"""

from __future__ import annotations

from vega_lab._lazy import lazy_exports
from vega_lab.privacy.accounting import (
    ACCOUNTANTS,
    epsilon,
    get_accountant,
    noise_multiplier_for,
)

__all__ = ["ACCOUNTANTS", "epsilon", "get_accountant", "noise_multiplier_for"]

# DP-SGD training (torch + Opacus) loads on first use, so `import vega_lab.privacy` stays cheap.
_LAZY = {
    "DPTrainingConfig": "vega_lab.privacy.config",
    "DPTrainingResult": "vega_lab.privacy.training",
    "DPEpochRecord": "vega_lab.privacy.training",
    "train_private": "vega_lab.privacy.training",
    "AuditConfig": "vega_lab.privacy.audit",
    "AuditReport": "vega_lab.privacy.audit",
    "run_audit": "vega_lab.privacy.audit",
    "membership_inference": "vega_lab.privacy.audit.mia",
    "MIAResult": "vega_lab.privacy.audit.mia",
}
__all__ += list(_LAZY)

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
