"""Development-only internal signing keys (ES256), one per app.

They make `make run` and the tests work with no set-up. They are public (committed),
so production mode refuses to sign with them or to trust them (see
`CommonSettings.production_problems`).
"""

from __future__ import annotations

import json
from functools import cache

from joserfc.jwk import ECKey

_DEV_PRIVATE_JWKS: dict[str, str] = {
    "gateway": '{"crv": "P-256", "d": "V3_lDox3CgHkTuGY-7ka4l4QciCJvqZc5KxNBsiz08g", "kty": "EC", "x": "M5HQDpI1vNPpJqkuYREevCDZK6l2xLC8ed9To4NCq_I", "y": "dVl_WCSB2v9Q4ZZfQQgMxT2rH4qqNQcFpw_ImC0Dz-4"}',
    "conventions": '{"crv": "P-256", "d": "SKIKPQByuApFPgIaBUe_k_BPGhc3UTKnATl4-8eor9s", "kty": "EC", "x": "R8fEBrRGUPal__y-GbqO8BC0SAU8SeVCBqz9GqkVy14", "y": "9XuiVbqsBvtBcuy7gbfvcn2qu6lMEhIppTjZ1FjOA_8"}',
    "actions": '{"crv": "P-256", "d": "WT0WFvGQ42SgUZbBE6SllIOBL-NhmOOucmgmzJu2I-M", "kty": "EC", "x": "ZpSZP0NTBHB_Mx-ZxUtYTUR7NjKcIlZB_3i-lenw-JU", "y": "_dZuGRTia09Hlk-UiZaufvbE7W144Oh_VjtaRPMVvbo"}',
    "documents": '{"crv": "P-256", "d": "Axzv3CAWDSoxMPjReUNQVVHl0Lc-RKDc1meYRspxdWA", "kty": "EC", "x": "56PnFQifd29dtEuWprZDNYdEjVg9Wsh92AMg9Z3qFZA", "y": "wv_kI0GHA6iIRcWiTKeAycG9c0RCVqOKR86DV5u9EgQ"}',
    "notifications": '{"crv": "P-256", "d": "uJvH-NEr3teaaSYVOuU-zAPqGayHznMj3tsG51-FZ74", "kty": "EC", "x": "n6AVz3rJrp91YKpFLzsgz0g58go6XKGtwqOtV0oFqQQ", "y": "QPdy6VVtFD38gkEwEjy8YALhd_7bnjCcEK5aJHb2E58"}',
}


def private_jwk(app_name: str) -> str:
    """The development private key of an app (the gateway's for unknown names)."""
    return _DEV_PRIVATE_JWKS.get(app_name, _DEV_PRIVATE_JWKS["gateway"])


def all_public_jwks() -> dict[str, str]:
    return {name: public_jwk_json(jwk) for name, jwk in _DEV_PRIVATE_JWKS.items()}


def public_jwk_json(jwk_json: str) -> str:
    key = ECKey.import_key(json.loads(jwk_json))
    return json.dumps(key.as_dict(private=False), sort_keys=True)


@cache
def _dev_thumbprints() -> frozenset[str]:
    return frozenset(
        ECKey.import_key(json.loads(j)).thumbprint() for j in _DEV_PRIVATE_JWKS.values()
    )


def is_dev_key(jwk_json: str) -> bool:
    try:
        key = ECKey.import_key(json.loads(jwk_json))
    except (ValueError, TypeError, KeyError):
        return False
    return key.thumbprint() in _dev_thumbprints()
