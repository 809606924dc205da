"""Deterministic fake Quivo orders, shaped like `shared/quivo-order-schema.json`.

Each order is a pure function of (seed, orderId), so a sandbox of a million
orders costs nothing until an order is touched.

    order = generate_order(4100001, seed=7)
    make sample-data   # writes sample_data/sandbox_orders.jsonl from main(--count 300 --seed 7)
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

Order = dict[str, Any]

FIRST_ORDER_ID = 4100001

# Status mix of a generated store; every status is represented.
STATUS_WEIGHTS = {"PROCESSING": 60, "PENDING": 15, "COMPLETED": 15, "CANCELLED": 10}

_FIRST_NAMES = ["Anna", "Lukas", "Marie", "Jonas", "Emma", "Noah", "Sofia", "Elias", "Mia", "Paul"]
_LAST_NAMES = [
    "Gruber",
    "Huber",
    "Wagner",
    "Müller",
    "Smith",
    "Dubois",
    "Jansen",
    "Rossi",
    "Ó Brien",
]
_COMPANIES = ["", "", "", "Alpenhof GmbH", "Nordwind KG", "Acme Corp", "Blue Harbor Ltd"]
# (country, city, zip, state, street)
_PLACES = [
    ("AT", "Wien", "1010", "", "Graben"),
    ("AT", "Graz", "8010", "", "Herrengasse"),
    ("DE", "Berlin", "10115", "", "Invalidenstraße"),
    ("DE", "München", "80331", "", "Marienplatz"),
    ("US", "Boston", "02134", "MA", "Cambridge St"),
    ("US", "Austin", "73301", "TX", "Congress Ave"),
    ("CA", "Toronto", "M5V 2T6", "ON", "King St W"),
    ("AU", "Sydney", "2000", "NSW", "George St"),
    ("GB", "London", "SW1A 1AA", "", "Whitehall"),
    ("FR", "Paris", "75001", "", "Rue de Rivoli"),
    ("NL", "Amsterdam", "1012 JS", "", "Damrak"),
    ("IE", "Dublin", "", "", "Grafton Street"),
    ("CH", "Zürich", "8001", "", "Bahnhofstrasse"),
]
_PRODUCTS = [
    ("TSHIRT-BLK-M", "T-Shirt black M", 0.2, 19.90),
    ("HOODIE-GRY-L", "Hoodie grey L", 0.6, 49.90),
    ("MUG-WHT", "Mug white", 0.4, 12.50),
    ("CAP-NVY", "Cap navy", 0.15, 24.00),
    ("SOCKS-3P", "Socks 3-pack", 0.1, 9.90),
    ("BOTTLE-750", "Bottle 750 ml", 0.35, 29.00),
]
_EPOCH = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def iso(ts: datetime) -> str:
    """Format a timestamp the way the API does: `2026-11-07T05:31:56Z`."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def generate_order(order_id: int, *, seed: int) -> Order:
    """Return the full order `order_id` of the store generated from `seed`."""
    rng = random.Random(f"{seed}:{order_id}")
    status = rng.choices(list(STATUS_WEIGHTS), weights=list(STATUS_WEIGHTS.values()))[0]
    created = _EPOCH + timedelta(minutes=rng.randrange(0, 20 * 24 * 60))
    modified = created + timedelta(minutes=rng.randrange(1, 600))
    first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
    country, city, zip_code, state, street = rng.choice(_PLACES)
    address = {
        "name1": f"{first} {last}",
        "name2": "",
        "company": rng.choice(_COMPANIES),
        "address1": f"{street} {rng.randrange(1, 200)}",
        "address2": rng.choice(["", "", "Top 4", "2nd floor"]),
        "address3": "",
        "zip": zip_code,
        "city": city,
        "state": state,
        "country": country,
        "phone": f"+43 660 {rng.randrange(1000000, 9999999)}",
        "email": f"{first.lower()}.{order_id}@example.com",
    }
    positions: list[dict[str, Any]] = []
    for number in range(1, rng.randrange(4, 8)):
        sku, name, weight, price = rng.choice(_PRODUCTS)
        quantity = rng.randrange(1, 4)
        positions.append(
            {
                "positionId": order_id * 10 + number,
                "positionIdentifier": f"P-{order_id}-{number}",
                "name": name,
                "sku": sku,
                "customAttributes": {},
                "productIdentifier": sku.split("-")[0],
                "variantIdentifier": sku,
                "quantity": quantity,
                "lot": "",
                "location": f"A-{rng.randrange(1, 40):02d}-{rng.randrange(1, 9)}",
                "bundledBy": None,
                "unitWeight": weight,
                "unitNetPrice": round(price / 1.2, 2),
                "unitGrossPrice": price,
                "totalWeight": round(weight * quantity, 3),
                "totalNetAmount": round(price / 1.2 * quantity, 2),
                "totalGrossAmount": round(price * quantity, 2),
                "expirationDate": None,
            }
        )
    shipped = status == "COMPLETED"
    fulfillment_order = {
        "warehouseId": 12,
        "warehouseName": "Quivo Graz",
        "fulfillmentOrderId": order_id + 9_000_000,
        "fulfillmentOrderIdentifier": f"FO-{order_id}",
        "fulfillmentStatus": {"COMPLETED": "SHIPPED", "CANCELLED": "CANCELLED"}.get(status, "OPEN"),
        "fulfillmentConnectorStatus": "EXPORTED",
        "fulfillmentInStock": True,
        "cancelled": status == "CANCELLED",
        "positions": [
            {
                "fulfillmentOrderPositionId": p["positionId"] + 500,
                "orderedSku": p["sku"],
                "sku": p["sku"],
                "warehouseSku": f"W{p['sku']}",
                "quantity": p["quantity"],
                "lot": "",
                "location": p["location"],
                "customsValue": p["unitNetPrice"],
                "expirationDate": None,
                "fulfillmentOrderPositionIdentifier": f"FOP-{p['positionId']}",
                "bundleSku": None,
            }
            for p in positions
        ],
        "shipments": [_shipment(order_id, positions, modified, rng)] if shipped else [],
        "fulfillmentOrderCreated": iso(created + timedelta(minutes=2)),
        "inPicking": status == "PROCESSING" and rng.random() < 0.5,
    }
    return {
        "orderId": order_id,
        "created": iso(created),
        "lastModified": iso(modified),
        "orderIdentifier": shop_order_number(order_id),
        "orderReference": f"PO-{order_id}",
        "orderStatus": status,
        "orderDate": iso(created),
        "exportedAt": iso(created + timedelta(minutes=1)),
        "cancelRequestedAt": iso(modified) if status == "CANCELLED" else None,
        "completedAt": iso(modified) if shipped else None,
        "customerIdentifier": f"C{rng.randrange(10000, 99999)}",
        "customerPurchaseOrderNumber": "",
        "ssccLabel": False,
        "sellerId": 301,
        "warehouseId": 12,
        "sellerName": "Sandbox Seller",
        "shopAvailableAt": "https://shop.example.com",
        "shopActive": True,
        "shopId": 77,
        "shopSystem": "SHOPIFY",
        "shopSystemName": "Shopify",
        "deliveryAddress": {
            **address,
            "addressIdentifier": f"A-{order_id}",
            "additionalIdentifiers": [],
            "latitude": None,
            "longitude": None,
        },
        "invoiceAddress": dict(address),
        "currency": "EUR",
        "positions": positions,
        "fulfillmentOrders": [fulfillment_order],
        "handlingUnits": [],
        "earliestDeliveryDate": None,
        "latestDeliveryDate": None,
        "comment": rng.choice(["", "", "Leave at the door", "Gift, no invoice in parcel"]),
        "transportInsuranceAmount": 0,
        "cashOnDeliveryAmount": 0,
        "cashOnDeliveryCurrency": "EUR",
        "deliveryInstruction": "",
        "shippingMethodIdentifier": rng.choice(["DHL_PAKET", "POST_AT", "UPS_STANDARD"]),
        "shippingMethodName": "Standard",
        "tags": rng.sample(["vip", "b2b", "gift", "express", "fragile"], k=rng.randrange(0, 3)),
        "earliestShipDate": None,
        "latestShipDate": None,
        "piiDataRemoved": False,
        "paymentType": rng.choice(["PREPAID", "INVOICE"]),
        "trackingEnabled": rng.random() < 0.5,
        "orderPriority": rng.randrange(0, 3),
        "fulfillmentConfirmed": status != "PENDING",
        "entityErrors": [],
        "customAttributes": {"channel": rng.choice(["web", "marketplace", "pos"])},
    }


def _shipment(
    order_id: int, positions: list[dict[str, Any]], shipped: datetime, rng: random.Random
) -> dict[str, Any]:
    tracking = f"00340434{rng.randrange(10**11, 10**12)}"
    return {
        "shipmentId": order_id + 7_000_000,
        "shipmentIdentifier": f"SH-{order_id}",
        "provider": "DHL",
        "trackingLink": f"https://tracking.example.com/{tracking}",
        "trackingLinks": [f"https://tracking.example.com/{tracking}"],
        "trackingNumber": tracking,
        "trackingNumbers": [tracking],
        "shipDate": iso(shipped),
        "isUntracked": False,
        "sscc": "",
        "predatedShipment": None,
        "carrierPickUpDate": iso(shipped),
        "deliveryWindowStartTime": None,
        "deliveryWindowEndTime": None,
        "providerName": "DHL Paket",
        "numberOfPallets": 0,
        "numberOfParcels": 1,
        "grossWeight": round(sum(p["totalWeight"] for p in positions), 3),
        "width": {"value": 0.3, "unit": "M"},
        "length": {"value": 0.4, "unit": "M"},
        "height": {"value": 0.2, "unit": "M"},
        "positions": [
            {
                "shipmentPositionId": p["positionId"] + 900,
                "sku": p["sku"],
                "warehouseSku": f"W{p['sku']}",
                "sellerSku": p["sku"],
                "quantity": p["quantity"],
                "lot": "",
                "location": p["location"],
                "expirationDate": None,
                "serialNumbers": [],
                "positionIdentifier": p["positionIdentifier"],
            }
            for p in positions
        ],
        "reversed": False,
        "bookedShipmentId": order_id + 8_000_000,
        "expectedDeliveryDate": iso(shipped + timedelta(days=2)),
        "deliveryDate": None,
        "podDate": None,
        "groupedPositions": [],
        "podDocuments": [],
    }


def shop_order_number(order_id: int) -> str:
    """The shop's own order number, `#1001`-style and unique: #1001 is order FIRST_ORDER_ID."""
    if order_id >= FIRST_ORDER_ID:
        return f"#{order_id - FIRST_ORDER_ID + 1001}"
    return f"#0-{order_id}"


def generate_orders(count: int, *, seed: int, first_id: int = FIRST_ORDER_ID) -> Iterator[Order]:
    """Yield `count` generated orders with consecutive IDs starting at `first_id`."""
    for order_id in range(first_id, first_id + count):
        yield generate_order(order_id, seed=seed)


def load_orders(path: Path) -> list[Order]:
    """Read a JSON-lines file of full orders (one object per line)."""
    orders = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            order = json.loads(line)
            if not isinstance(order, dict) or not isinstance(order.get("orderId"), int):
                raise ValueError(f"{path}:{number}: not an order object with an integer orderId")
            orders.append(order)
    return orders


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write generated sandbox orders as JSON lines.")
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    for order in generate_orders(args.count, seed=args.seed):
        sys.stdout.write(json.dumps(order, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
