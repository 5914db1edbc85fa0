"""Fake product catalogue written as one typed Parquet file, as the catalogue service ships it."""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from .files import GeneratedFile, write_bytes

FIRST_PRODUCT_ID = 501
PRODUCTS_FILE = "products_2026-11-01.parquet"

PRODUCT_SCHEMA = pa.schema(
    [
        pa.field("product_id", pa.int64()),
        pa.field("sku", pa.string()),
        pa.field("name", pa.string()),
        pa.field("category", pa.string()),
        pa.field("unit_price", pa.decimal128(10, 2)),
        pa.field("active", pa.bool_()),
        pa.field("updated_at", pa.timestamp("us")),
    ]
)

# category -> (sku code, price range in EUR, nouns)
CATEGORIES: dict[str, tuple[str, tuple[int, int], list[str]]] = {
    "kitchen": ("KIT", (6, 180), ["Chef's Knife", "Cast Iron Pan", "Teapot", "Cutting Board", "Mixing Bowl"]),
    "lighting": ("LGT", (15, 320), ["Table Lamp", "Pendant Light", "Floor Lamp", "String Lights"]),
    "textiles": ("TXT", (9, 140), ["Linen Throw", "Cushion Cover", "Bath Towel", "Duvet Cover", "Rug"]),
    "furniture": ("FUR", (45, 1200), ["Side Table", "Bookshelf", "Armchair", "Bench", "Desk"]),
    "garden": ("GRD", (4, 260), ["Planter", "Watering Can", "Bird Feeder", "Garden Chair"]),
    "bathroom": ("BTH", (5, 90), ["Soap Dish", "Bath Mat", "Shower Caddy", "Toothbrush Holder"]),
    "decor": ("DEC", (8, 220), ["Vase", "Wall Clock", "Picture Frame", "Candle Holder", "Mirror"]),
}
ADJECTIVES = (
    "Nordic Oak Stoneware Copper Linen Rattan Walnut Ceramic Brass Terracotta Bamboo Marble Woven Sage Ivory"
).split() + ["Matte Black"]


@dataclass(frozen=True)
class Product:
    """One catalogue product version."""

    product_id: int
    sku: str
    name: str
    category: str
    unit_price: Decimal
    active: bool
    updated_at: datetime


def build_products(rng: random.Random, n: int) -> list[Product]:
    """Create n products with unique names, ~8% of them inactive.

    Args:
        rng: The random stream to draw from.
        n: Number of products.

    Returns:
        The products ordered by product_id.
    """
    products, seen = [], set()
    base = datetime(2026, 10, 1)
    for i in range(n):
        category = rng.choice(list(CATEGORIES))
        code, (lo, hi), nouns = CATEGORIES[category]
        name = f"{rng.choice(ADJECTIVES)} {rng.choice(nouns)}"
        # Catalogues repeat a base name across sizes; a suffix keeps names unique and plausible.
        suffix = 2
        while name in seen:
            name = f"{name.rsplit(' No.', 1)[0]} No.{suffix}"
            suffix += 1
        seen.add(name)
        # Shop prices end in .99 or .49.
        price = Decimal(rng.randint(lo, hi)) + rng.choice([Decimal("0.99"), Decimal("0.49")])
        products.append(
            Product(
                product_id=FIRST_PRODUCT_ID + i,
                sku=f"{code}-{FIRST_PRODUCT_ID + i:05d}",
                name=name,
                category=category,
                unit_price=price,
                active=rng.random() >= 0.08,
                updated_at=base + timedelta(seconds=rng.randrange(31 * 86400)),
            )
        )
    return products


def write_products(
    landing_dir: Path, rng: random.Random, n: int
) -> tuple[list[GeneratedFile], list[Product]]:
    """Write the catalogue snapshot as Parquet with exactly the declared Iceberg types.

    Args:
        landing_dir: Root of the landing zone.
        rng: The random stream to draw from.
        n: Number of products.

    Returns:
        The file written, and the products.
    """
    products = build_products(rng, n)
    columns = {f.name: [getattr(p, f.name) for p in products] for f in PRODUCT_SCHEMA}
    table = pa.table(columns, schema=PRODUCT_SCHEMA)
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="snappy")
    path = landing_dir / "products" / PRODUCTS_FILE
    write_bytes(path, buf.getvalue())
    return [GeneratedFile(path.resolve(), "products", len(products), "")], products
