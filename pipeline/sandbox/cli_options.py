"""Parse the sandbox's `--faults` option: `error=0.1,drop=0.03,slow=0.05,slow_s=2,refuse_token=0.3`.

parse_faults("error=0.1,drop=0.03")  # Faults(error_share=0.1, drop_share=0.03, ...)
"""

from __future__ import annotations

from dataclasses import fields

from pipeline.sandbox.config import Faults

FAULT_KEYS = {
    "error": "error_share",
    "drop": "drop_share",
    "slow": "slow_share",
    "slow_s": "slow_s",
    "malformed": "malformed_share",
    "complete": "complete_share",
    "refuse_token": "refuse_token_share",
    "no_modified": "no_modified_share",
    "ship_cancelled": "ship_cancelled_share",
}


def parse_faults(text: str) -> Faults:
    """Build `Faults` from comma-separated key=value pairs; raise ValueError with the bad part."""
    values: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, raw = part.partition("=")
        if not sep or key.strip() not in FAULT_KEYS:
            known = ", ".join(FAULT_KEYS)
            raise ValueError(f"'{part}' is not KEY=VALUE with KEY one of {known}")
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"'{part}': {raw!r} is not a number") from None
        name = FAULT_KEYS[key.strip()]
        if name.endswith("_share") and not 0 <= value <= 1:
            raise ValueError(f"'{part}': a share must be between 0 and 1")
        values[name] = value
    faults = Faults(**values)
    total = sum(getattr(faults, f.name) for f in fields(Faults) if f.name.endswith("_share"))
    apart = (
        faults.complete_share
        + faults.refuse_token_share
        + faults.no_modified_share
        + faults.ship_cancelled_share
    )
    if total - apart > 1:
        raise ValueError("the shares of error, drop, slow and malformed add up to more than 1")
    return faults
