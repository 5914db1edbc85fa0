"""The demo's governance tour, printed at the end of `foundation demo`: cards, a query allowed, one denied."""

from __future__ import annotations

from dagster_project.governance.commands import print_rows
from dagster_project.settings import Settings

DEMO_QUERY = (
    "select customer_segment, count(*) as orders, sum(amount) as revenue "
    "from curated.orders group by 1 order by 1"
)
DEMO_DENIED = "select customer_id, email_hash from staging.stg_customers"


def show_governance(settings: Settings) -> None:
    """The demo's governance tour: data cards written, one governed query, one denied, the audit log."""
    from dagster_project.governance.query import QueryDenied, run_query

    cards = sorted(settings.cards_dir.glob("*.html"))
    print(
        f"\ndata cards: {len(cards)} in {settings.cards_dir}" + (f" (e.g. {cards[0].name})" if cards else "")
    )
    print(f'\nfoundation query --as analyst "{DEMO_QUERY}"')
    result = run_query(settings, "analyst", DEMO_QUERY)
    print_rows(result.rows, "table", indent="  ")
    print(f'\nfoundation query --as analyst "{DEMO_DENIED}"')
    try:
        run_query(settings, "analyst", DEMO_DENIED)
    except QueryDenied as exc:
        print(f"  denied: {exc}")
    print("\nBoth queries and every publish are in ops.audit_log:")
    print('  foundation query --as auditor "select action, count(*) from ops.audit_log group by 1"')
    print("Time travel: foundation history raw.orders | foundation query --as-of <snapshot id> ...")
