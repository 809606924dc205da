"""Build the deliberately dirty sample inputs from sandbox_orders.jsonl.

    python sample_data/build_samples.py     (or: make sample-data)

Each row's comment in ROWS says what the run should make of it; the tests
assert exactly that. Order IDs are picked by status from the shipped orders.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import polars as pl
import xlsxwriter

HERE = Path(__file__).resolve().parent


def orders_by_status() -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    with (HERE / "sandbox_orders.jsonl").open(encoding="utf-8") as lines:
        for line in lines:
            order = json.loads(line)
            found.setdefault(order["orderStatus"], []).append(order["orderId"])
    return found


def shop_numbers() -> dict[int, str]:
    """orderId -> the shop's order number (`#1001`)."""
    with (HERE / "sandbox_orders.jsonl").open(encoding="utf-8") as lines:
        orders = [json.loads(line) for line in lines]
    return {order["orderId"]: order["orderIdentifier"] for order in orders}


def build_address_csv(ids: dict[str, list[int]]) -> None:
    """Semicolon CSV with a BOM, `Order ID`-style headers and leading-zero zips."""
    p, completed = ids["PROCESSING"], ids["COMPLETED"]
    header = (
        "Order ID",
        "Name",
        "Company",
        "Street",
        "Street 2",
        "ZIP",
        "City",
        "State",
        "Country",
        "E-Mail",
        "Phone",
        "Note",
        "Latitude",
        "Longitude",
    )
    rows = [
        # Each: id, name, company, street, street2, zip, city, state, country, email, phone,
        # note, latitude, longitude; the trailing comment is the expected outcome.
        (
            p[0],
            "Anna Gruber",
            "",
            "Cambridge St 12",
            "Apt 4",
            "02134",
            "Boston",
            "MA",
            "US",
            "anna@example.com",
            "",
            "new flat",
            "",
            "",
        ),  # applied, zip keeps its 0
        (
            p[1],
            "Lukas Huber",
            "",
            "Invalidenstraße 5",
            "",
            "10115",
            "Berlin",
            "",
            "de",
            "",
            "",
            "",
            "",
            "",
        ),  # applied
        (
            p[2],
            "Marie Wagner",
            "",
            "Main St 1",
            "",
            "02134",
            "Boston",
            "",
            "US",
            "",
            "",
            "state missing",
            "",
            "",
        ),  # invalid: missing_state
        (
            p[3],
            "Jonas Müller",
            "",
            "Hauptplatz 1",
            "",
            "8010",
            "Graz",
            "",
            "XX",
            "",
            "",
            "",
            "",
            "",
        ),  # invalid: invalid_country
        (
            completed[0],
            "Emma Smith",
            "",
            "Whitehall 1",
            "",
            "SW1A 1AA",
            "London",
            "",
            "GB",
            "",
            "",
            "",
            "",
            "",
        ),  # failed: status_conflict (COMPLETED)
        (
            p[4],
            "Noah Ó Brien",
            "",
            "Grafton Street 3",
            "",
            "",
            "Dublin",
            "",
            "IE",
            "",
            "",
            "no zip in IE",
            "",
            "",
        ),  # applied
        (
            9999999,
            "Nobody",
            "",
            "Nowhere 1",
            "",
            "1010",
            "Wien",
            "",
            "AT",
            "",
            "",
            "",
            "",
            "",
        ),  # failed: order_not_found
        (
            p[1],
            "Lukas Huber",
            "",
            "Invalidenstraße 5",
            "",
            "10115",
            "Berlin",
            "",
            "de",
            "",
            "",
            "",
            "",
            "",
        ),  # duplicate of row 2
        (
            p[5],
            "",
            "Alpenhof GmbH",
            "Bahnhofstrasse 9",
            "",
            "8001",
            "Zürich",
            "",
            "CH",
            "",
            "+41 44 000 00 00",
            "company only",
            "",
            "",
        ),  # applied
        (
            "1.23457E+11",
            "Mia Rossi",
            "",
            "Via Roma 1",
            "",
            "00184",
            "Roma",
            "",
            "IT",
            "",
            "",
            "",
            "",
            "",
        ),  # invalid: invalid_order_id (Excel ate the digits)
        (
            p[6],
            "Elias Jansen",
            "",
            "",
            "",
            "1012 JS",
            "Amsterdam",
            "",
            "NL",
            "",
            "",
            "",
            "",
            "",
        ),  # invalid: missing_street
        (
            p[7],
            "Sofia Dubois",
            "",
            "Rue de Rivoli 1",
            "",
            "75001",
            "Paris",
            "",
            "FR",
            "sofia(at)example.com",
            "",
            "",
            "",
            "",
        ),  # invalid: invalid_email
        (
            p[8],
            "Paul Gruber",
            "=Acme Corp",
            "Graben 1",
            "",
            "1010",
            "Wien",
            "",
            "AT",
            "",
            "-43 1 234",
            "formula-like cells",
            "",
            "",
        ),  # applied
        (
            p[9],
            "Anna Huber",
            "",
            "Herrengasse 1",
            "",
            "8010",
            "Graz",
            "",
            "AT",
            "",
            "",
            "",
            "",
            "",
        ),  # invalid: conflicting_rows (with the next row)
        (
            p[9],
            "Anna Huber",
            "",
            "Herrengasse 1",
            "",
            "8010",
            "Leoben",
            "",
            "AT",
            "",
            "",
            "",
            "",
            "",
        ),  # invalid: conflicting_rows
        (
            p[10],
            "Lukas Wagner",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "by coordinates",
            "48,2082",
            "16,3738",
        ),  # applied (decimal commas)
    ]
    lines = [";".join(header)] + [";".join(str(cell) for cell in row) for row in rows]
    text = "\r\n".join(lines) + "\r\n"
    (HERE / "address-corrections.csv").write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))


def build_mixed_xlsx(ids: dict[str, list[int]]) -> None:
    """An .xlsx with mixed actions, numeric ID cells, a second sheet, and invalid rows."""
    p = ids["PROCESSING"][20:]
    header = [
        "orderId",
        "action",
        "comment",
        "trackingEnabled",
        "customAttributes.giftWrap",
        "customAttributes.priority",
    ]
    rows: list[list[object]] = [
        [p[0], "update", "Please ring twice", "yes", None, None],  # applied
        [p[1], "Update", None, None, "true", "high"],  # applied (action case)
        [ids["PENDING"][0], "update", "Too early", None, None, None],  # failed: PENDING
        [ids["PENDING"][1], "cancel", None, None, None, None],  # applied
        [ids["COMPLETED"][1], "cancel", None, None, None, None],  # failed: COMPLETED
        [ids["CANCELLED"][0], "cancel", None, None, None, None],  # unchanged
        [p[2], "update", "x" * 251, None, None, None],  # comment_too_long
        [p[3], "update", None, None, None, None],  # nothing_to_change
        [p[4], "delete", None, None, None, None],  # invalid_action
        [p[5], "update", None, "maybe", None, None],  # invalid_boolean
        [p[6], "cancel", None, None, None, None],  # applied, after the next row's update
        [p[6], "update", "Last words before cancelling", None, None, None],  # applied first
        [f"{p[7]}.0", "update", "ID typed as 4100xxx.0", "N", None, None],  # applied
    ]
    workbook = xlsxwriter.Workbook(HERE / "mixed-changes.xlsx")
    sheet = workbook.add_worksheet("Changes")
    sheet.write_row(0, 0, header)
    for number, row in enumerate(rows, start=1):
        for column, value in enumerate(row):
            if value is None:
                continue
            if isinstance(value, int):
                sheet.write_number(number, column, value)
            else:
                sheet.write_string(number, column, str(value))
    notes = workbook.add_worksheet("Notes")
    notes.write_string(0, 0, "Rows on the first sheet are sent; this sheet is ignored.")
    workbook.close()


def build_cancellations_parquet(ids: dict[str, list[int]]) -> None:
    """A Parquet cancellation list with an integer orderId column and a free-text reason."""
    frame = pl.DataFrame(
        {
            "orderId": [
                ids["PENDING"][2],  # applied
                ids["PENDING"][3],  # applied
                ids["PROCESSING"][40],  # applied
                ids["PROCESSING"][41],  # applied
                ids["COMPLETED"][2],  # failed: status_conflict
                ids["CANCELLED"][1],  # unchanged
                ids["PROCESSING"][40],  # duplicate
            ],
            "reason": [
                "fraud",
                "customer request",
                "out of stock",
                "address unknown",
                "too late",
                "already cancelled",
                "listed twice",
            ],
        },
        schema={"orderId": pl.Int64, "reason": pl.String},
    )
    frame.write_parquet(HERE / "cancellations.parquet")


def build_inbox(ids: dict[str, list[int]]) -> None:
    """Two files in an inbox folder for the nightly cancellation sweep."""
    inbox = HERE / "inbox"
    inbox.mkdir(exist_ok=True)
    pending, processing = ids["PENDING"][10:], ids["PROCESSING"][60:]
    (inbox / "2026-11-23-cancellations.csv").write_text(
        "orderId,reason\n" + "".join(f"{i},nightly\n" for i in pending[:4] + processing[:3])
    )
    (inbox / "2026-11-24-cancellations.csv").write_text(
        "order_id;reason\n"
        + "".join(f"{i};nightly\n" for i in processing[3:6])
        + f"{ids['COMPLETED'][5]};nightly\n"
    )


def build_shop_xlsx(ids: dict[str, list[int]]) -> None:
    """A workbook as a shop's export comes: a title and a note above German headers, the
    shop's order numbers instead of orderIds, zips Excel stored as numbers (one shown as
    01067 by a 00000 format, one that lost its zero), a date, an extra phone column, a
    country written out, and a row hidden by a filter."""
    number = shop_numbers()
    p, completed = ids["PROCESSING"], ids["COMPLETED"]
    header = ["Bestellnummer", "Empfänger", "Straße", "PLZ", "Ort", "Bundesland", "Land",
              "Telefon", "Phone2", "Lieferdatum"]  # fmt: skip
    rows = [
        # Each: key, name, street, zip (number or text), zip format, city, state, country,
        # phone, phone2, date; the trailing comment is the expected outcome.
        (
            number[p[20]],
            "Anna Schmidt",
            "Prager Straße 10",
            1067,
            "00000",
            "Dresden",
            "",
            "Deutschland",
            "+49 351 1234567",
            "",
            (2026, 12, 1),
        ),  # applied: PLZ 01067, DE
        (
            number[p[21]],
            "Jonas Weber",
            "Hauptplatz 3",
            8010,
            None,
            "Graz",
            "",
            "Österreich",
            "",
            "+43 316 111",
            None,
        ),  # applied
        (
            number[p[22]],
            "Mia Lee",
            "Main St 5",
            2134,
            None,
            "Boston",
            "MA",
            "USA",
            "",
            "",
            None,
        ),  # invalid_zip: 2134 lost its 0, the hint says 02134?
        ("#99999", "Noah Klein", "Ring 2", "1010", None, "Wien", "", "AT", "", "", None),
        # order_not_found: no order has that number
        (
            number[p[23]],
            "Lea Wolf",
            "Domgasse 1",
            "1010",
            None,
            "Wien",
            "",
            "AT",
            "",
            "",
            None,
        ),  # applied, though hidden by the filter (a warning names row 9)
        (
            number[completed[3]],
            "Paul Braun",
            "Markt 4",
            "4020",
            None,
            "Linz",
            "",
            "AT",
            "",
            "",
            None,
        ),  # failed: status_conflict (the order is COMPLETED)
        (
            number[p[24]],
            "Emma Jones",
            "10 Downing Street",
            "SW1A 2AA",
            None,
            "London",
            "",
            "UK",
            "",
            "",
            None,
        ),  # applied: UK read as GB
    ]
    workbook = xlsxwriter.Workbook(HERE / "shop-orders.xlsx")
    sheet = workbook.add_worksheet("Adressen")
    day = workbook.add_format({"num_format": "dd.mm.yyyy"})
    sheet.write_string(0, 0, "Adressänderungen aus dem Shop, November 2026")
    sheet.write_string(1, 0, "Export vom 20.11.2026; bitte nur Spalten B-J ändern")
    sheet.write_row(3, 0, header)
    for line, row in enumerate(rows, start=4):
        key, name, street, plz, plz_format, city, state, country, phone, phone2, date = row
        sheet.write_row(line, 0, [key, name, street])
        if isinstance(plz, int):
            sheet.write_number(line, 3, plz, workbook.add_format({"num_format": plz_format})
                               if plz_format else None)  # fmt: skip
        else:
            sheet.write_string(line, 3, plz)
        for column, value in enumerate([city, state, country, phone, phone2], start=4):
            if value:
                sheet.write_string(line, column, value)
        if date:
            sheet.write_datetime(line, 9, datetime(*date), day)
    sheet.set_row(8, None, None, {"hidden": True})  # Excel's row 9: filtered out
    sheet.autofilter(3, 0, 3 + len(rows), len(header) - 1)
    workbook.close()


def build_bestellungen_xlsx(ids: dict[str, list[int]]) -> None:
    """The browser UI's trial workbook, as an operations person's shop export comes: a
    title and a blank row above German headers, the shop's order numbers, zips stored as
    numbers, countries written out, a 300-character comment (too long), a missing city
    (Excel's row 7), a zip that lost its zero (row 16), one row hidden by a filter (row
    20), and a second sheet "Stornierungen" of 10 cancels."""
    number = shop_numbers()
    p = ids["PROCESSING"]
    header = ["Bestellnummer", "Empfänger", "Straße", "PLZ", "Ort", "Bundesland", "Land",
              "Kommentar"]  # fmt: skip
    places = [
        (1010, "Wien", "", "Österreich"),
        (8010, "Graz", "", "Österreich"),
        (1067, "Dresden", "", "Deutschland"),
        (10115, "Berlin", "", "Deutschland"),
        (2134, "Boston", "MA", "USA"),
    ]
    workbook = xlsxwriter.Workbook(HERE / "Bestellungen_Dezember.xlsx")
    sheet = workbook.add_worksheet("Bestellungen")
    five = workbook.add_format({"num_format": "00000"})
    sheet.write_string(0, 0, "Adressänderungen Dezember 2026")
    sheet.write_row(2, 0, header)
    sheet.set_column(0, 0, 14)
    sheet.set_column(7, 7, 40)
    for position in range(20):
        line = 3 + position  # Excel's row line + 1
        zip_, city, state, country = places[position % 4]
        comment = f"Bitte klingeln {position + 1}"
        if line + 1 == 7:
            city = ""  # missing_city
        if line + 1 == 10:
            comment = "Lieferhinweis: " + "bitte beim Nachbarn abgeben " * 11
            comment = comment[:300]
        if line + 1 == 16:
            zip_, city, state, country = places[4]  # 2134 lost its zero: invalid_zip
        key = number[p[30 + position]]
        sheet.write_row(line, 0, [key, f"Kundin {position + 1}", f"Hauptstraße {position + 1}"])
        sheet.write_number(line, 3, zip_, five if country == "Deutschland" else None)
        for column, value in enumerate([city, state, country, comment], start=4):
            if value:
                sheet.write_string(line, column, value)
    sheet.set_row(19, None, None, {"hidden": True})  # Excel's row 20: filtered out
    sheet.autofilter(2, 0, 22, len(header) - 1)
    cancels = workbook.add_worksheet("Stornierungen")
    cancels.write_row(0, 0, ["Bestellnummer", "Aktion"])
    for position in range(10):
        cancels.write_row(position + 1, 0, [number[p[60 + position]], "cancel"])
    workbook.close()


def main() -> None:
    ids = orders_by_status()
    build_shop_xlsx(ids)
    build_address_csv(ids)
    build_mixed_xlsx(ids)
    build_cancellations_parquet(ids)
    build_inbox(ids)
    build_bestellungen_xlsx(ids)


if __name__ == "__main__":
    main()
