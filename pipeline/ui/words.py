"""Outcomes, problems, predictions and fields in words (the codes stay in the detail
column and the downloads). Each is marked for the catalogue and translated where shown.

    sentence("comment_too_long")      # "The comment is too long for Quivo."
    outcome_word("stale")             # "changed by someone else; not sent"
"""

from __future__ import annotations

from pipeline.ui.i18n import N_

OUTCOMES = {
    "applied": N_("changed"),
    "unverified": N_("sent, but the order does not show it"),
    "failed": N_("failed"),
    "invalid": N_("needs fixing; not sent"),
    "duplicate": N_("same as an earlier row; sent once"),
    "not_attempted": N_("not sent yet (stopped)"),
    "unchanged": N_("already so; nothing to send"),
    "stale": N_("changed by someone else; not sent"),
    "sent": N_("sent"),
    "dry_run": N_("ready (only checked)"),
    "valid": N_("ready"),
}
PREDICTIONS = {
    "will_change": N_("will change"),
    "unchanged": N_("already so"),
    "will_fail": N_("will fail"),
    "invalid": N_("needs fixing"),
    "duplicate": N_("duplicate"),
}
STATES = {
    "draft": N_("draft"),
    "unfinished": N_("unfinished"),
    "stopped": N_("stopped"),
    "finished": N_("finished"),
    "running": N_("running"),
    "failed": N_("failed"),
}
KINDS = {
    "run": N_("Run of %(file)s"),
    "undo": N_("Undo of %(file)s"),
    "rerun": N_("Rerun of %(file)s"),
    "validate": N_("Check of %(file)s"),
    "plan": N_("Plan of %(file)s"),
    "stale": N_("Stale rows of %(file)s"),
}
SENTENCES = {
    "missing_order_id": N_("The row names no order."),
    "invalid_order_id": N_("The order number cannot be read."),
    "missing_action": N_("The row does not say what to do (update, address or cancel)."),
    "invalid_action": N_("The action is not one of update, address or cancel."),
    "invalid_address_type": N_("The address type is not delivery, invoice or both."),
    "comment_too_long": N_("The comment is too long for Quivo (at most 250 characters)."),
    "invalid_boolean": N_("Tracking must be yes or no."),
    "invalid_country": N_("The country is not one Quivo knows."),
    "missing_name": N_("The name is missing."),
    "missing_street": N_("The street is missing."),
    "missing_city": N_("The city is missing."),
    "missing_country": N_("The country is missing."),
    "missing_zip": N_("The postcode is missing."),
    "missing_state": N_("The state is missing (needed for this country)."),
    "invalid_zip": N_("The postcode does not fit the country."),
    "invalid_state": N_("The state does not fit the country."),
    "invalid_latitude": N_("The latitude is not a number between -90 and 90."),
    "invalid_longitude": N_("The longitude is not a number between -180 and 180."),
    "incomplete_coordinates": N_("Latitude and longitude go together; one is missing."),
    "invalid_email": N_("The e-mail address cannot be right."),
    "nothing_to_change": N_("The row changes nothing."),
    "unexpected_fields": N_("The row has values this action does not send."),
    "conflicting_rows": N_("Other rows of the same order say something else."),
    "order_not_found": N_("No order with this number was found."),
    "ambiguous_order": N_("More than one order has this number."),
    "status_conflict": N_("The order can no longer be changed (its status does not allow it)."),
    "rejected": N_("Quivo refused the change."),
    "unauthorized": N_("The login to Quivo failed."),
    "forbidden": N_("The account may not change this order."),
    "rate_limited": N_("Quivo asked to slow down; try again later."),
    "server_error": N_("Quivo had an error; try again later."),
    "bad_response": N_("Quivo's answer could not be read."),
    "timeout": N_("Quivo did not answer in time."),
    "network": N_("The connection to Quivo failed."),
    "changed_since_plan": N_("Someone else changed the order after the preview."),
    "not_verified": N_("Sent, but the order does not show the change."),
    "aborted": N_("The run stopped before this row was sent."),
    "duplicate": N_("Same change as an earlier row; it is sent once."),
}
FIELDS = {
    "countryIso2": N_("country"),
    "zip": N_("postcode"),
    "city": N_("city"),
    "street": N_("street"),
    "name": N_("name"),
    "comment": N_("comment"),
    "state": N_("state"),
    "orderId": N_("order"),
    "trackingEnabled": N_("tracking"),
    "orderIdentifier": N_("shop order number"),
    "orderReference": N_("order reference"),
    "action": N_("action"),
}
ADDRESS_TYPES = {
    "DELIVERY": N_("delivery address"),
    "INVOICE": N_("invoice address"),
    "DELIVERY_AND_INVOICE": N_("delivery and invoice address"),
}
ACTIONS = {
    "update": N_("update (comment, tracking, address)"),
    "address": N_("address only"),
    "cancel": N_("cancel the order"),
}
COLUMNS = {
    "row": N_("row"),
    "orderId": N_("Quivo order"),
    "action": N_("action"),
    "prediction": N_("what happens"),
    "reason": N_("detail"),
    "changes": N_("changes (old → new)"),
    "orderStatus": N_("order status"),
    "outcome": N_("outcome"),
    "problem": N_("problem"),
    "errorCode": N_("code"),
    "error": N_("detail"),
    "detail": N_("detail"),
    "file": N_("file"),
}
