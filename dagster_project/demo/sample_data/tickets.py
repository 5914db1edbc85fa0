"""Fake help-desk tickets as JSON lines, with the PII customers really type into free text."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from .files import GeneratedFile, jsonl_bytes, write_bytes
from .people import Customer, fake_phone

TICKET_COLUMNS = [
    "ticket_id",
    "customer_id",
    "channel",
    "priority",
    "status",
    "subject",
    "body",
    "created_at",
]
FIRST_TICKET_ID = 50001
TICKET_DAYS = [date(2026, 11, d) for d in (1, 2, 3)]
# A well-known test card number; never a real card, but it looks like one to a PII scanner.
TEST_CARD = "4111 1111 1111 1111"

CHANNEL_WEIGHTS = {"email": 50, "chat": 35, "phone": 15}
PRIORITY_WEIGHTS = {"low": 25, "normal": 50, "high": 18, "urgent": 7}

# topic -> (subject templates, problem sentences); {order} is one of the customer's order ids.
TOPICS: dict[str, tuple[list[str], list[str]]] = {
    "where_is_my_order": (
        ["Where is my order {order}?", "Order {order} not arrived", "Delivery status for {order}"],
        [
            "My order {order} was supposed to arrive yesterday and the tracking page has not moved.",
            "I ordered a week ago (order {order}) and still have no dispatch email.",
        ],
    ),
    "return": (
        ["Return request for order {order}", "How do I send back {order}?", "Return label not working"],
        [
            "I would like to return the item from order {order}, it is not the colour shown online.",
            "The return label for order {order} gives an error when I try to print it.",
        ],
    ),
    "damaged": (
        ["Item arrived damaged", "Broken on arrival - order {order}", "Damaged parcel"],
        [
            "The parcel for order {order} arrived with a crushed corner and the item inside is cracked.",
            "Two of the pieces in order {order} were broken. Photos attached.",
        ],
    ),
    "payment": (
        ["Charged twice for {order}", "Payment failed but money taken", "Refund not received"],
        [
            "I was charged twice for order {order}. Please refund the second payment.",
            "My refund for order {order} has not reached my account after ten days.",
        ],
    ),
    "account": (
        ["Cannot log in", "Change my email address", "Password reset email never arrives"],
        [
            "I cannot log in to my account, the reset link says it has expired.",
            "Please change the email address on my account, I no longer use the old one.",
        ],
    ),
    "privacy": (
        ["Delete my data", "GDPR request", "Unsubscribe me"],
        [
            "Under GDPR I ask you to delete all personal data you hold about me.",
            "Please stop sending me marketing emails and tell me what data you store.",
        ],
    ),
}


def _pick(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _texts(rng: random.Random, c: Customer, order: int, channel: str) -> tuple[str, str]:
    """Write the subject and body of one ticket, sprinkling in PII the way customers do."""
    topic = rng.choice(list(TOPICS))
    subjects, problems = TOPICS[topic]
    subject = rng.choice(subjects).format(order=order)
    problem = rng.choice(problems).format(order=order)
    phone = c.phone or fake_phone(rng, c.country)
    if rng.random() < 0.1:
        subject += f" ({c.email})"
    parts: list[str] = []
    if channel == "phone":
        # Phone tickets are the agent's call notes, not the customer's words.
        parts.append(f"Customer {c.first_name} {c.last_name} called from {phone}. {problem}")
        if rng.random() < 0.5:
            parts.append(f"Confirmed email on file: {c.email}.")
    elif channel == "chat":
        parts.append(f"hi, {problem[0].lower()}{problem[1:]}")
        if rng.random() < 0.4:
            parts.append(f"my email is {c.email}")
    else:
        parts.append(f"Hello,\n\n{problem}")
        if rng.random() < 0.35:
            parts.append(f"You can call me on {phone} or reply to {c.email}.")
    if rng.random() < (0.35 if topic == "payment" else 0.04):
        parts.append(f"I paid with my card {TEST_CARD}.")
    if channel != "phone" and rng.random() < 0.7:
        parts.append(f"Thanks,\n{c.first_name} {c.last_name}")
    return subject, "\n\n".join(parts)


def build_tickets(
    rng: random.Random,
    day: date,
    n: int,
    first_id: int,
    customers: list[Customer],
    orders_by_customer: dict[int, list[int]],
) -> list[dict[str, Any]]:
    """Create n tickets opened during day, ids ascending with time.

    Args:
        rng: The random stream to draw from.
        day: Calendar day every created_at falls in.
        n: Number of tickets.
        first_id: ticket_id of the first ticket.
        customers: Customers who may open tickets.
        orders_by_customer: Clean order ids per customer, so a ticket names one of its own orders.

    Returns:
        The tickets as dicts with keys in TICKET_COLUMNS order.
    """
    start = datetime(day.year, day.month, day.day)
    times = sorted(start + timedelta(seconds=rng.randrange(86400)) for _ in range(n))
    # Older tickets are more likely solved by the time of the export.
    age = (TICKET_DAYS[-1] - day).days
    status_weights = {"open": 40 - 15 * age, "pending": 25, "solved": 35 + 15 * age}
    tickets = []
    for i, ts in enumerate(times):
        c = rng.choice(customers)
        own = orders_by_customer.get(c.customer_id)
        order = rng.choice(own) if own else 1_000_000 + rng.randrange(1, 999)
        channel = _pick(rng, CHANNEL_WEIGHTS)
        subject, body = _texts(rng, c, order, channel)
        tickets.append(
            {
                "ticket_id": first_id + i,
                "customer_id": c.customer_id,
                "channel": channel,
                "priority": _pick(rng, PRIORITY_WEIGHTS),
                "status": _pick(rng, status_weights),
                "subject": subject,
                "body": body,
                "created_at": ts.strftime("%Y-%m-%d %H:%M:%S"),
            }
        )
    return tickets


def write_tickets(
    landing_dir: Path,
    rng: random.Random,
    per_file: int,
    customers: list[Customer],
    orders_by_customer: dict[int, list[int]],
) -> list[GeneratedFile]:
    """Write three daily help-desk exports; each has a null priority, the second a re-sent ticket.

    Args:
        landing_dir: Root of the landing zone.
        rng: The random stream to draw from.
        per_file: Distinct tickets per file (at least 10).
        customers: Customers who may open tickets.
        orders_by_customer: Clean order ids per customer.

    Returns:
        The files written.
    """
    files = []
    next_id = FIRST_TICKET_ID
    for k, day in enumerate(TICKET_DAYS):
        tickets = build_tickets(rng, day, per_file, next_id, customers, orders_by_customer)
        next_id += len(tickets)
        for i in rng.sample(range(len(tickets)), 1 if k != 1 else 2):
            tickets[i]["priority"] = None
        note = "nulls"
        if k == 1:
            # The help desk re-sent one ticket unchanged after a timeout.
            src = rng.randrange(len(tickets) - 1)
            tickets.insert(src + 2, dict(tickets[src]))
            note = "duplicates,nulls"
        path = landing_dir / "support_tickets" / f"tickets_{day}.jsonl"
        write_bytes(path, jsonl_bytes(tickets))
        files.append(GeneratedFile(path.resolve(), "support_tickets", len(tickets), note))
    return files
