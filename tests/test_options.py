"""One typed options model for the CLI, job files, the UI and Python (docs/guide/notebook.md).

The scenario of issue 19: `resolve_options(cli={'action': 'cancel', 'max_cancel': 1,
'retrys': 9}, ...)` gave no error and max_cancels = None, the guard off.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from pipeline.cli.common import options_from_cli
from pipeline.config.jobfile import JobFile, load_job
from pipeline.config.options import Options
from pipeline.config.settings import RunOptions, resolve_options
from pipeline.core.errors import JobFileError, OptionsError
from pipeline.flows.frame import run_frame


def test_a_misspelt_option_names_the_closest_known_one() -> None:
    with pytest.raises(OptionsError) as refused:
        resolve_options(Options(action="cancel", max_cancel=1, retrys=9), env=None)
    message = str(refused.value)
    assert "unknown option 'max_cancel' (did you mean 'max_cancels'?)" in message
    assert "unknown option 'retrys' (did you mean 'retries'?)" in message


def test_the_old_dictionary_of_cli_spellings_is_refused_not_ignored() -> None:
    """The call of the issue, as it was written: it must not run with the guard off
    (before, it returned options with max_cancels None)."""
    with pytest.raises((OptionsError, TypeError)):
        resolve_options(  # type: ignore[call-arg]
            cli={"action": "cancel", "max_cancel": 1, "retrys": 9}, job=None, env=None
        )


def test_a_spelt_option_reaches_the_run_options() -> None:
    options = resolve_options(Options(action="cancel", max_cancels=1, retries=9))
    assert (options.action, options.max_cancels, options.api.max_attempts) == ("cancel", 1, 10)


def test_a_bad_value_names_the_option() -> None:
    with pytest.raises(OptionsError, match="concurrency: Input should be greater than or equal"):
        Options(concurrency=0)
    with pytest.raises(OptionsError, match="rate: rate 'often' is not a rate"):
        Options(rate="often")


def test_a_dictionary_is_not_options() -> None:
    with pytest.raises(OptionsError, match="must be an Options object, not dict"):
        resolve_options({"action": "cancel"})  # type: ignore[arg-type]


def test_the_cli_translates_its_spellings() -> None:
    given = options_from_cli(
        {
            "timeout": 2.5,
            "yes": True,
            "no_refetch": True,
            "no_breaker": False,  # a flag not given
            "dry_run": False,
            "max_cancels": 3,
            "log_format": "json",
            "sheet": None,
        }
    )
    assert given.given() == {
        "timeout_s": 2.5,
        "assume_yes": True,
        "refetch": False,
        "max_cancels": 3,
    }
    options = resolve_options(given)
    assert (options.api.timeout_s, options.assume_yes, options.refetch, options.breaker) == (
        2.5,
        True,
        False,
        True,
    )


def test_a_job_file_takes_the_same_options(tmp_path: Path) -> None:
    job_path = tmp_path / "job.toml"
    job_path.write_text('input = "a.csv"\naction = "cancel"\nmax_cancels = 2\nrate = 3\n')
    job = load_job(job_path)
    assert set(Options.model_fields) - {"dry_run"} <= set(JobFile.model_fields)
    options = resolve_options(Options(rate=9.0), job=job)
    assert (options.action, options.max_cancels, options.api.rate_per_s) == ("cancel", 2, 9.0)
    assert resolve_options(Options(), job=job).api.rate_per_s == 3.0
    assert RunOptions().max_cancels is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'input = "a.csv"\nmax_cancel = 1\n',
            "unknown key 'max_cancel' (did you mean 'max_cancels'?)",
        ),
        ('input = "a.csv"\nretrys = 9\n', "unknown key 'retrys' (did you mean 'retries'?)"),
        ('input = "a.csv"\ndry_run = true\n', "unknown key 'dry_run'"),
    ],
)
def test_a_misspelt_job_key_names_the_closest_known_one(
    tmp_path: Path, text: str, message: str
) -> None:
    job_path = tmp_path / "job.toml"
    job_path.write_text(text)
    with pytest.raises(JobFileError) as refused:
        load_job(job_path)
    assert message in str(refused.value)


def test_run_options_built_in_python_refuse_a_misspelt_name_too() -> None:
    from pipeline.api.settings import ApiSettings

    with pytest.raises(
        OptionsError, match=r"unknown option 'max_cancel' \(did you mean 'max_cancels'\?\)"
    ):
        RunOptions(action="cancel", max_cancel=1)  # type: ignore[call-arg]
    with pytest.raises(OptionsError, match=r"did you mean 'rate_per_s'"):
        ApiSettings(rate_per_second=2.0)  # type: ignore[call-arg]
    assert RunOptions(action="cancel", max_cancels=1).max_cancels == 1


def test_the_ui_form_is_checked_by_the_same_model() -> None:
    from pipeline.ui.draft_views import _choices

    assert _choices({"action": "cancel"}) == {
        "action": "cancel", "address_type": "DELIVERY", "sheet": None,
    }  # fmt: skip
    with pytest.raises(OptionsError, match="action: Input should be 'update', 'address'"):
        _choices({"action": "delete"})


def test_run_frame_names_a_misspelt_keyword_and_a_misspelt_action(tmp_path: Path) -> None:
    """A notebook's `run_frame(df, action="cancel", max_cancel=1)` gave a bare TypeError,
    and `action="cancle"` made a run of invalid rows; both now refuse before any run
    directory is made, naming the closest name and where a run's options go."""
    frame = pl.DataFrame({"orderId": ["4100001"]})
    out = tmp_path / "run"
    with pytest.raises(OptionsError, match=r"'max_cancel' \(did you mean 'max_cancels'\?\)"):
        run_frame(frame, action="cancel", out=out, max_cancel=1)
    with pytest.raises(OptionsError, match=r"action 'cancle' \(did you mean 'cancel'\?\)"):
        run_frame(frame, action="cancle", out=out)
    assert not out.exists()
