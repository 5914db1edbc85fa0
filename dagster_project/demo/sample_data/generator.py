"""Write a deterministic, deliberately dirty sample landing zone for every dataset in sources.yml."""

from __future__ import annotations

import random
from pathlib import Path

from .bench import write_orders_csv
from .documents import write_documents
from .files import GeneratedFile
from .orders import write_orders
from .people import write_customers
from .products import write_products
from .tickets import write_tickets

__all__ = ["GeneratedFile", "generate", "write_orders_csv"]

# Row counts at scale 1.0, and floors that keep every planted defect present at tiny scales.
CUSTOMERS, MIN_CUSTOMERS = 200, 20
PRODUCTS, MIN_PRODUCTS = 50, 10
ORDERS_PER_FILE, MIN_ORDERS_PER_FILE = 500, 20
TICKETS_PER_FILE, MIN_TICKETS_PER_FILE = 100, 10


def _stream(seed: int, dataset: str) -> random.Random:
    # One independent stream per dataset, so changing how tickets are made leaves orders unchanged.
    # String seeds are hashed with SHA-512, which is stable across runs, machines and PYTHONHASHSEED.
    return random.Random(f"{seed}:{dataset}")


def _count(base: int, scale: float, floor: int) -> int:
    return max(floor, round(base * scale))


def generate(landing_dir: Path, *, seed: int = 42, scale: float = 1.0) -> list[GeneratedFile]:
    """Write the sample landing zone under landing_dir/<dataset>/.

    The same seed and scale give byte-identical files with the same names on any machine. Files
    of the same name are overwritten (atomically); other files are never touched.

    Args:
        landing_dir: Root of the landing zone; created if missing.
        seed: Seed of every random stream.
        scale: Multiplier for tabular row counts (documents are fixed); small values are floored so
            each planted defect still appears.

    Returns:
        Every file written, in a stable order: customers, products, orders, support_tickets, documents.

    Raises:
        ValueError: If scale is not positive.
    """
    if not scale > 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    landing_dir = Path(landing_dir).resolve()
    files, customers = write_customers(
        landing_dir, _stream(seed, "customers"), _count(CUSTOMERS, scale, MIN_CUSTOMERS)
    )
    product_files, products = write_products(
        landing_dir, _stream(seed, "products"), _count(PRODUCTS, scale, MIN_PRODUCTS)
    )
    files += product_files
    order_files, orders_by_customer = write_orders(
        landing_dir,
        _stream(seed, "orders"),
        _count(ORDERS_PER_FILE, scale, MIN_ORDERS_PER_FILE),
        customers,
        products,
    )
    files += order_files
    files += write_tickets(
        landing_dir,
        _stream(seed, "support_tickets"),
        _count(TICKETS_PER_FILE, scale, MIN_TICKETS_PER_FILE),
        customers,
        orders_by_customer,
    )
    files += write_documents(landing_dir)
    return files
