"""The vocabulary of a run's results: outcomes and stable error codes (docs/reference/outputs.md).

Outcome.APPLIED in SUCCESS  # True: counts towards exit code 0
"""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    APPLIED = "applied"  # sent, and the refetched order shows the change
    UNVERIFIED = "unverified"  # sent and accepted, but the order does not show the change
    FAILED = "failed"  # the API refused the change or never answered
    INVALID = "invalid"  # the row did not validate; nothing was sent
    DUPLICATE = "duplicate"  # the same change as an earlier row, which was sent once
    NOT_ATTEMPTED = "not_attempted"  # the run stopped before this row was sent
    UNCHANGED = "unchanged"  # the order already had exactly the values (before-image)
    STALE = "stale"  # changed by someone else since the plan or the undone run; nothing sent
    SENT = "sent"  # sent and accepted; not verified (--no-refetch)
    DRY_RUN = "dry_run"  # valid; nothing sent (--dry-run, validate)


# Outcomes that leave nothing to do (exit code 0, not in errors.csv). `sent` is not
# among them: with --no-refetch nothing was verified (docs/reference/outputs.md).
SUCCESS = frozenset({Outcome.APPLIED, Outcome.DUPLICATE, Outcome.UNCHANGED})
# Outcomes that `rerun` sends again (invalid rows need fixing first).
RERUNNABLE = frozenset({Outcome.FAILED, Outcome.UNVERIFIED, Outcome.NOT_ATTEMPTED})


# The columns results.* start with (docs/reference/outputs.md), before the input's own columns.
LEADING_COLUMNS = (
    "file",
    "row",
    "orderId",
    "action",
    "outcome",
    "errorCode",
    "error",
    "httpStatus",
    "attempts",
    "latencyMs",
    "orderStatus",
    "cancelRequestedAt",
    "lastModified",
    "changes",
    "decidedAt",
)


class ErrorCode(StrEnum):
    # Row validation (nothing sent).
    MISSING_ORDER_ID = "missing_order_id"
    INVALID_ORDER_ID = "invalid_order_id"
    MISSING_ACTION = "missing_action"
    INVALID_ACTION = "invalid_action"
    INVALID_ADDRESS_TYPE = "invalid_address_type"
    COMMENT_TOO_LONG = "comment_too_long"
    INVALID_BOOLEAN = "invalid_boolean"
    INVALID_COUNTRY = "invalid_country"
    MISSING_NAME = "missing_name"
    MISSING_STREET = "missing_street"
    MISSING_CITY = "missing_city"
    MISSING_COUNTRY = "missing_country"
    MISSING_ZIP = "missing_zip"
    MISSING_STATE = "missing_state"
    INVALID_ZIP = "invalid_zip"
    INVALID_STATE = "invalid_state"
    INVALID_LATITUDE = "invalid_latitude"
    INVALID_LONGITUDE = "invalid_longitude"
    INCOMPLETE_COORDINATES = "incomplete_coordinates"
    INVALID_EMAIL = "invalid_email"
    NOTHING_TO_CHANGE = "nothing_to_change"
    UNEXPECTED_FIELDS = "unexpected_fields"
    CONFLICTING_ROWS = "conflicting_rows"
    NO_INVOICE_ADDRESS = "no_invoice_address"
    # Answers of the API.
    ORDER_NOT_FOUND = "order_not_found"
    AMBIGUOUS_ORDER = "ambiguous_order"
    STATUS_CONFLICT = "status_conflict"
    REJECTED = "rejected"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    RATE_LIMITED = "rate_limited"
    SERVER_ERROR = "server_error"
    BAD_RESPONSE = "bad_response"
    TIMEOUT = "timeout"
    NETWORK = "network"
    # Verification and run control.
    CHANGED_SINCE_PLAN = "changed_since_plan"
    NOT_VERIFIED = "not_verified"
    ABORTED = "aborted"
    # A cancel's follow-up: the warehouse shipped the order after the cancel request.
    SHIPPED = "shipped"


# Failures worth sending again as they were: the cause was passing (docs/reference/commands.md,
# `quivo-bulk rerun`); `rerun` takes these without --include-permanent.
TRANSIENT_ERROR_CODES = frozenset(
    {
        ErrorCode.RATE_LIMITED,
        ErrorCode.SERVER_ERROR,
        ErrorCode.TIMEOUT,
        ErrorCode.NETWORK,
        ErrorCode.BAD_RESPONSE,
        ErrorCode.ABORTED,
    }
)

# Exit codes of every command but `doctor` (docs/reference/exit-codes.md).
EXIT_OK = 0  # every row applied, unchanged or a duplicate (or a clean dry run)
EXIT_ROWS_FAILED = 1  # the run finished; some rows did not succeed
EXIT_USAGE = 2  # the input, job or options could not be used; nothing was sent
EXIT_STOPPED = 3  # the run stopped early (resumable) or could not finish its reports
# The exit codes of a run that reached its end (a stopped run's is EXIT_STOPPED).
EXIT_FINISHED = frozenset({EXIT_OK, EXIT_ROWS_FAILED})

# The journal's error text of a request journaled but never sent: the run stopped while
# it waited for the pacer. Such a request changed nothing and is not counted as sent.
NOT_SENT = "not sent: the run stopped first"
