"""Fake web-shop order exports: four clean-ish days plus schema-drift, malformed and bad-batch files."""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from .files import GeneratedFile, csv_bytes, write_bytes
from .people import Customer
from .products import Product

ORDER_COLUMNS = [
    "order_id",
    "customer_id",
    "product_id",
    "quantity",
    "amount",
    "currency",
    "status",
    "ordered_at",
]
FIRST_ORDER_ID = 1_000_001
CLEAN_DAYS = [date(2026, 11, d) for d in (1, 2, 3, 4)]
DRIFT_DAY = MALFORMED_DAY = date(2026, 11, 5)
BAD_BATCH_DAY = date(2026, 11, 6)
# Ids far above every generated customer, so a referential check must flag them.
UNKNOWN_CUSTOMER_BASE = 99_000_001

STATUS_WEIGHTS = {"placed": 15, "shipped": 25, "delivered": 45, "cancelled": 8, "returned": 7}
CURRENCY_WEIGHTS = {"EUR": 92, "GBP": 5, "USD": 3}
# Fixed list-price conversion rates: amounts in GBP/USD are quantity x the converted unit price.
RATES = {"EUR": Decimal("1"), "GBP": Decimal("0.87"), "USD": Decimal("1.08"), "XXX": Decimal("1")}
QUANTITY_WEIGHTS = {1: 60, 2: 20, 3: 8, 4: 5, 5: 3, 6: 2, 10: 2}
DISCOUNT_CODES = ["WELCOME10", "AUTUMN15", "FREESHIP", "BLACKFRIDAY25", "LOYAL5"]
CENT = Decimal("0.01")


@dataclass
class Order:
    """One order line; mutable so dirt can be injected after generation."""

    order_id: int
    customer_id: int
    product_id: int
    quantity: int
    unit_price: Decimal
    currency: str
    status: str | None
    ordered_at: datetime

    @property
    def amount(self) -> Decimal:
        """Line total in the order currency, always exactly two decimal places."""
        local_price = (self.unit_price * RATES[self.currency]).quantize(CENT)
        return (self.quantity * local_price).quantize(CENT)

    def row(self) -> list[object]:
        """Return the CSV field values in ORDER_COLUMNS order."""
        return [
            self.order_id,
            self.customer_id,
            self.product_id,
            self.quantity,
            f"{self.amount:.2f}",
            self.currency,
            self.status,
            self.ordered_at.strftime("%Y-%m-%d %H:%M:%S"),
        ]


def _pick(rng: random.Random, weights: dict) -> object:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def build_orders(
    rng: random.Random, day: date, n: int, first_id: int, customers: list[Customer], products: list[Product]
) -> list[Order]:
    """Create n orders placed during day, ids ascending with time as the shop assigns them.

    Args:
        rng: The random stream to draw from.
        day: Calendar day every ordered_at falls in.
        n: Number of orders.
        first_id: order_id of the first order.
        customers: Customers who may order.
        products: Catalogue; only active products are sold.

    Returns:
        The orders, ordered by order_id.
    """
    start = datetime(day.year, day.month, day.day)
    times = sorted(start + timedelta(seconds=rng.randrange(86400)) for _ in range(n))
    sellable = [p for p in products if p.active] or products
    orders = []
    for i, ts in enumerate(times):
        product = rng.choice(sellable)
        orders.append(
            Order(
                order_id=first_id + i,
                customer_id=rng.choice(customers).customer_id,
                product_id=product.product_id,
                quantity=int(_pick(rng, QUANTITY_WEIGHTS)),
                unit_price=product.unit_price,
                currency=str(_pick(rng, CURRENCY_WEIGHTS)),
                status=str(_pick(rng, STATUS_WEIGHTS)),
                ordered_at=ts,
            )
        )
    return orders


def _add_duplicates(rng: random.Random, rows: list[list[object]], count: int) -> list[list[object]]:
    """Re-send count rows a little later in the file, as an export retry would."""
    out = list(rows)
    for src in sorted(rng.sample(range(len(rows)), min(count, len(rows)))):
        at = min(len(out), src + 1 + rng.randrange(1, 20))
        out.insert(at, list(rows[src]))
    return out


def _clean_file(rng: random.Random, orders: list[Order]) -> list[list[object]]:
    """Inject the everyday dirt: null statuses, one absurd quantity, one unknown currency, duplicates."""
    picks = rng.sample(range(len(orders)), 5)
    for i in picks[:3]:
        orders[i].status = None
    orders[picks[3]].quantity = 9999
    orders[picks[4]].currency = "XXX"
    return _add_duplicates(rng, [o.row() for o in orders], 3)


def _drift_file(rng: random.Random, orders: list[Order]) -> tuple[list[str], list[list[object]]]:
    """Append a discount_code column the upstream team added without notice; most values null."""
    rows = [o.row() + [rng.choice(DISCOUNT_CODES) if rng.random() < 0.35 else None] for o in orders]
    return ORDER_COLUMNS + ["discount_code"], rows


def _malformed_file(rng: random.Random, orders: list[Order]) -> bytes:
    """Render orders as CSV, then break it: ragged rows and an unterminated quoted field mid-file."""
    lines = csv_bytes(ORDER_COLUMNS, [o.row() for o in orders]).decode("utf-8").splitlines()
    n = len(lines)
    # A row that lost its last field, and one with a stray trailing field.
    q1, q3 = n // 4, (3 * n) // 4
    lines[q1] = lines[q1].rsplit(",", 1)[0]
    lines[q1 + 2] = lines[q1 + 2] + ",EXTRA"
    # The opening quote never closes, so a parser swallows the rest of the file into one field.
    fields = lines[n // 2].split(",")
    fields[4] = '"' + fields[4]
    lines[n // 2] = ",".join(fields)
    lines[q3] = lines[q3] + ",,"
    return ("\n".join(lines) + "\n").encode("utf-8")


def _bad_batch(rng: random.Random, orders: list[Order], n_unknown: int) -> list[list[object]]:
    """Type-valid rows that must fail a quality gate: null ids, negative amounts, unknown customers."""
    n = len(orders)
    rows = [o.row() for o in orders]
    n_null = max(1, n // 10)
    picks = rng.sample(range(n), n_null + 5 + n_unknown)
    null_ids, negative, unknown = picks[:n_null], picks[n_null : n_null + 5], picks[n_null + 5 :]
    for i in null_ids:
        rows[i][0] = None
    for i in negative:
        rows[i][4] = f"{-orders[i].amount:.2f}"
    for k, i in enumerate(unknown):
        rows[i][1] = UNKNOWN_CUSTOMER_BASE + k
    return rows


def write_orders(
    landing_dir: Path,
    rng: random.Random,
    per_file: int,
    customers: list[Customer],
    products: list[Product],
) -> tuple[list[GeneratedFile], dict[int, list[int]]]:
    """Write every orders file of the sample landing zone.

    Args:
        landing_dir: Root of the landing zone.
        rng: The random stream to draw from.
        per_file: Distinct orders in each clean daily file (at least 20).
        customers: Customers orders may refer to.
        products: Products orders may refer to.

    Returns:
        The files written, and the clean order ids placed by each customer.
    """
    out_dir = landing_dir / "orders"
    files: list[GeneratedFile] = []
    by_customer: dict[int, list[int]] = defaultdict(list)
    next_id = FIRST_ORDER_ID

    def emit(name: str, data: bytes, rows: int, note: str) -> None:
        path = out_dir / name
        write_bytes(path, data)
        files.append(GeneratedFile(path.resolve(), "orders", rows, note))

    for day in CLEAN_DAYS:
        orders = build_orders(rng, day, per_file, next_id, customers, products)
        next_id += len(orders)
        for o in orders:
            by_customer[o.customer_id].append(o.order_id)
        rows = _clean_file(rng, orders)
        emit(f"orders_{day}.csv", csv_bytes(ORDER_COLUMNS, rows), len(rows), "duplicates,nulls,out_of_range")

    orders = build_orders(rng, DRIFT_DAY, max(10, per_file * 2 // 5), next_id, customers, products)
    next_id += len(orders)
    header, rows = _drift_file(rng, orders)
    emit(f"orders_{DRIFT_DAY}_schema_drift.csv", csv_bytes(header, rows), len(rows), "schema_drift")

    orders = build_orders(rng, MALFORMED_DAY, max(20, per_file // 5), next_id, customers, products)
    next_id += len(orders)
    emit(f"orders_{MALFORMED_DAY}_malformed.csv", _malformed_file(rng, orders), len(orders), "malformed")

    orders = build_orders(rng, BAD_BATCH_DAY, per_file, next_id, customers, products)
    rows = _bad_batch(rng, orders, n_unknown=4)
    emit(f"orders_{BAD_BATCH_DAY}_bad_batch.csv", csv_bytes(ORDER_COLUMNS, rows), len(rows), "bad_batch")
    return files, dict(by_customer)
