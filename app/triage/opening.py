"""Opening many tips at once: the one place that turns rows into decrypted content in bulk.

The queue filters and the analytics both need the encrypted fields of every tip an inspector can
see. They all come through `open_contents`, so that the cost of opening (one HPKE open and one
AES-GCM decryption per tip) is paid in one place and can be cached there.
"""

from collections.abc import Iterable

import crypto
from app.reporting.models import Tip
from app.reporting.services import CONTENT, TipContent

OfficeKeys = dict[int, crypto.PrivateKey]


def open_contents(tips: Iterable[Tip], keys: OfficeKeys) -> dict[str, TipContent]:
    """Tip id → content for every tip whose office key the caller holds (others are left out)."""
    opened: dict[str, TipContent] = {}
    for tip in tips:
        key = keys.get(tip.office_key_id)
        if key is None or not tip.key_for_office:
            continue
        try:
            data_key = crypto.open_key(tip.key_for_office, key, owner=tip.id, purpose="office")
            raw = crypto.decrypt_field(data_key, tip.content, tip_id=tip.id, purpose=CONTENT)
        except crypto.CryptoError:
            continue
        opened[tip.id] = TipContent.from_bytes(raw)
    return opened
