"""Address rows change exactly the fields they name (README "Address corrections").

Against the sandbox, whose PUT replaces the whole address: the client must send the
order's current address with the row's fields laid over it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pipeline.run.runner import run_files
from pipeline.sandbox import SandboxThread
from tests.conftest import env_for, options_for, state_of


def order(sandbox: SandboxThread, order_id: int) -> dict[str, Any]:
    found = state_of(sandbox).order(order_id, touch=False)
    assert found is not None
    return found


def test_a_five_column_correction_keeps_email_phone_and_street2(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    """The issue's scenario as printed: order 4100001, a 5-column file, --action address."""
    before = order(sandbox, 4100001)["deliveryAddress"].copy()
    assert before["email"] and before["phone"] and before["address2"]  # something to lose
    path = tmp_path / "fixes.csv"
    path.write_text(
        "orderId,name,street,zip,city,countryIso2\n"
        "4100001,Marie Gruber,Mariahilfer Straße 12,1070,Wien,AT\n"
    )
    result = run_files(
        [path],
        options=options_for(sandbox, action="address"),
        env=env_for(sandbox),
        out=tmp_path / "run",
    )
    assert result.exit_code == 0
    assert result.results["outcome"].to_list() == ["applied"]
    after = order(sandbox, 4100001)["deliveryAddress"]
    for kept in ("email", "phone", "address2", "name1", "company"):
        assert after[kept] == before[kept], kept
    assert (after["address1"], after["zip"], after["city"], after["country"]) == (
        "Mariahilfer Straße 12",
        "1070",
        "Wien",
        "AT",
    )
    changes = result.results["changes"].to_list()[0]
    assert "street: King St W 178 -> Mariahilfer Straße 12" in changes
    assert "zip: M5V 2T6 -> 1070" in changes
    assert "city: Toronto -> Wien" in changes
    assert "countryIso2: CA -> AT" in changes
    # ON is a province of Canada, not of Austria: dropped, and said so.
    assert "state: ON -> (empty)" in changes
    assert after["state"] == ""
    for untouched in ("email", "phone", "street2", "name:"):
        assert untouched not in changes
