# ruff: noqa: E501 - document text is prose, one paragraph per line
"""A labelled retrieval corpus: 52 documents of a fictional data-integration company, Tidewater.

Four kinds, as a company's knowledge base holds them: product documentation pages (HTML in the
templates of real documentation generators, from tests/documents/sites.py), internal policies
(markdown and plain text), support tickets (plain text and markdown) and PDFs (release notes,
contracts, handbooks). Each document is (landing key, title, [(section heading, paragraph)]); the
questions that each document answers are in benchmarks/retrieval_questions.yml. Used by
benchmarks/bench_retrieval.py and tests/documents/test_retrieval.py.
"""

from __future__ import annotations

from pathlib import Path

from dagster_project.demo.sample_data.documents import parse_article, render_text
from dagster_project.demo.sample_data.pdf import pdf_bytes
from tests.documents.sites import docusaurus, help_center, mkdocs_material, sphinx

Sections = list[tuple[str, str]]

DOCS: dict[str, tuple[str, Sections]] = {
    "docs/install.html": (
        "Installing the tide command-line tool",
        [
            (
                "Supported systems",
                "The tide CLI runs on macOS 13 or later, most Linux distributions with glibc 2.31 or later, and Windows 10 and 11. It needs Python 3.10 or newer.",
            ),
            (
                "Install with pipx",
                "We recommend pipx so that the CLI lives in its own environment: run pipx install tidewater-cli and then open a new shell so that the tide command is on your PATH.",
            ),
            (
                "Air-gapped machines",
                "For servers without internet access, download the offline bundle tidewater-offline-5.2.tar.gz from the customer portal, copy it across and install it with pip install --no-index --find-links pointing at the unpacked folder.",
            ),
            (
                "Check the install",
                "Run tide --version. It prints the release number and the commit it was built from; send both when you contact support.",
            ),
        ],
    ),
    "docs/authentication.html": (
        "API tokens and authentication",
        [
            (
                "Token types",
                "Personal access tokens start with twp_ and act as the user who created them. Service tokens start with tws_ and belong to the workspace, so they keep working when an employee leaves.",
            ),
            (
                "Expiry",
                "Every token expires after 90 days. Workspace admins receive a reminder seven days before a service token expires and can renew it without changing its value.",
            ),
            (
                "Scopes",
                "Give a token only the scopes it needs: read:pipelines to list runs, write:pipelines to start and edit them, admin:workspace for user management.",
            ),
            (
                "Using a token",
                "The CLI reads the token from the TIDE_TOKEN environment variable; API calls send it in the Authorization header as a bearer token.",
            ),
        ],
    ),
    "docs/rate-limits.html": (
        "Rate limits of the REST API",
        [
            (
                "Limits",
                "Each workspace may make 600 API requests per minute, with short bursts of up to 100 requests in one second. Limits are shared by all tokens of the workspace.",
            ),
            (
                "When you go over",
                "Requests over the limit are answered with HTTP status 429 Too Many Requests and a Retry-After header giving the number of seconds to wait.",
            ),
            (
                "Watching your quota",
                "Every response carries the X-Tide-Quota-Remaining header with the requests left in the current minute, so a client can slow down before it is refused.",
            ),
        ],
    ),
    "docs/webhooks.html": (
        "Webhooks",
        [
            (
                "Events",
                "A webhook can subscribe to pipeline.succeeded, pipeline.failed, schema.changed and connector.paused. The payload is JSON and names the workspace, the pipeline and the run.",
            ),
            (
                "Verifying deliveries",
                "Each delivery carries an X-Tide-Signature header: an HMAC-SHA256 of the raw request body computed with the webhook's signing secret. Compute the same HMAC on the exact bytes you received and compare in constant time.",
            ),
            (
                "Retries",
                "Your endpoint must answer with a 2xx status within 10 seconds. Failed deliveries are retried 8 times over 24 hours with exponential backoff, after which the webhook is disabled and the owner is emailed.",
            ),
        ],
    ),
    "docs/connectors/postgres.html": (
        "PostgreSQL source connector",
        [
            (
                "Requirements",
                "The connector reads changes through logical replication and supports PostgreSQL 12 to 17, including Amazon RDS, Aurora and Cloud SQL. The server must run with wal_level set to logical.",
            ),
            (
                "Replication slot",
                "On first sync the connector creates a replication slot named tide_slot and a publication named tide_pub. Do not drop them while the connector is active, or changes made in the meantime are lost and the tables must be resynced.",
            ),
            (
                "Permissions",
                "Create a dedicated database user with the REPLICATION attribute and SELECT on the schemas you want to sync.",
            ),
        ],
    ),
    "docs/connectors/salesforce.html": (
        "Salesforce source connector",
        [
            (
                "How it reads",
                "The connector uses the Bulk API 2.0 for large objects and the REST API for small ones. It signs in through a connected app with OAuth and refreshes its token automatically.",
            ),
            (
                "API allowance",
                "Each sync uses part of your organisation's daily Salesforce API allowance. Syncing every five minutes with many objects can use up the allowance of smaller editions.",
            ),
            (
                "Formula fields",
                "Formula fields do not change the record's modified date, so they are re-read by a full pass every night at 03:00 in the workspace time zone.",
            ),
        ],
    ),
    "docs/schedules.html": (
        "Scheduling pipelines",
        [
            (
                "Cron schedules",
                "Set a schedule with tide schedule set PIPELINE followed by a five-field cron expression. Each schedule has its own time zone; without one it runs in UTC.",
            ),
            (
                "Shortest interval",
                "On the Team plan a pipeline can run at most every 5 minutes; Enterprise workspaces can schedule runs every minute.",
            ),
            (
                "Overlapping runs",
                "If a run is still going when the next one is due, the next one is skipped and recorded as skipped rather than queued.",
            ),
        ],
    ),
    "docs/transformations.html": (
        "SQL transformations",
        [
            (
                "Models",
                "A transformation is a SELECT statement saved as a model. Models can call Jinja macros and refer to each other with ref(), and Tidewater runs them in dependency order after each load.",
            ),
            (
                "Incremental models",
                "An incremental model processes only new rows. Give it a unique_key so that updated rows replace their earlier versions instead of being appended twice.",
            ),
            (
                "Testing",
                "Run tide transform test to check not-null, unique and accepted-values tests before you deploy a change.",
            ),
        ],
    ),
    "docs/error-codes.html": (
        "Error code reference",
        [
            (
                "TW-E101 credentials rejected",
                "The source or destination refused the stored credentials. Re-enter them under Connections; the pipeline resumes on its next run.",
            ),
            (
                "TW-E217 schema drift",
                "A column changed type in the source in a way the destination cannot take, for example text into a number column. The table is paused until you approve the change or add a cast.",
            ),
            (
                "TW-E340 destination quota",
                "The destination warehouse rejected the load because a storage or compute quota was reached. Raise the quota at the warehouse; no data is lost.",
            ),
            (
                "TW-E502 upstream timeout",
                "The source did not answer within 120 seconds. Tidewater retries three times before failing the run.",
            ),
        ],
    ),
    "docs/sso.html": (
        "Single sign-on with SAML",
        [
            (
                "Identity providers",
                "Enterprise workspaces can require sign-in through SAML 2.0 with Okta, Microsoft Entra ID, Google Workspace or any compliant identity provider.",
            ),
            (
                "Setting it up",
                "Copy the ACS URL and entity ID from Settings, Security into your identity provider, then upload the provider's metadata XML. Test with one user before enforcing SSO for everyone.",
            ),
            (
                "Provisioning",
                "With SCIM enabled, users and groups created in the identity provider appear in Tidewater automatically, and deactivated users lose access within a minute.",
            ),
        ],
    ),
    "docs/audit-log.html": (
        "Audit log",
        [
            (
                "What is recorded",
                "Every sign-in, token creation, permission change, pipeline edit and data export is written to the audit log with the actor, the time and the IP address.",
            ),
            ("Retention", "Audit events are kept for 400 days on Enterprise and 90 days on Team."),
            (
                "Exporting",
                "Run tide audit export --to s3://bucket/prefix to copy events to your own bucket every hour, for a SIEM or longer retention.",
            ),
        ],
    ),
    "docs/data-residency.html": (
        "Data residency and regions",
        [
            (
                "Regions",
                "A workspace is created in one of three regions: eu-central in Frankfurt, us-east in Virginia or ap-southeast in Singapore. Pipeline data is processed and stored only in that region.",
            ),
            (
                "Choosing a region",
                "The region is chosen when the workspace is created and cannot be changed in the settings afterwards.",
            ),
            (
                "Metadata",
                "Account names, billing records and support tickets are stored in the EU regardless of the workspace region.",
            ),
        ],
    ),
    "docs/cli-reference.html": (
        "Command reference for tide",
        [
            (
                "tide run",
                "tide run PIPELINE starts a run now. Add --full-refresh to reload every table from scratch instead of continuing from the last cursor.",
            ),
            (
                "tide logs",
                "tide logs RUN_ID prints a run's log; --follow keeps streaming new lines until the run ends.",
            ),
            (
                "tide pipelines pause",
                "tide pipelines pause PIPELINE stops its schedule without deleting state; tide pipelines resume picks up where it stopped.",
            ),
        ],
    ),
    "docs/secrets.html": (
        "Managing secrets",
        [
            (
                "Storing secrets",
                "Store passwords and keys with tide secrets set NAME; the value is encrypted and never printed in logs or the UI after it is saved.",
            ),
            (
                "Referring to secrets",
                "Connector settings and transformations refer to a secret as {{ secret('NAME') }}, so the value never appears in the pipeline definition.",
            ),
            (
                "External vaults",
                "Enterprise workspaces can read secrets from HashiCorp Vault or AWS Secrets Manager instead of the built-in store.",
            ),
        ],
    ),
    "docs/billing-usage.html": (
        "How usage is billed",
        [
            (
                "Monthly active rows",
                "Tidewater bills by monthly active rows (MAR): each distinct primary key inserted or updated in a destination during a calendar month counts once, however often it changes.",
            ),
            (
                "Full refreshes",
                "A full refresh reloads every row, so every row of the table counts as active in the month of the refresh.",
            ),
            (
                "Usage dashboard",
                "The Usage page shows active rows per connector and per table, updated every hour, and a forecast for the month.",
            ),
        ],
    ),
    "docs/alerts.html": (
        "Alerts and notifications",
        [
            (
                "Channels",
                "Alerts can go to Slack channels, email addresses, Microsoft Teams and PagerDuty. PagerDuty needs an Events API v2 integration key.",
            ),
            (
                "Freshness alerts",
                "A freshness alert fires when a table has not received new data for longer than its threshold, for example 6 hours.",
            ),
            (
                "Muting",
                "tide alerts mute PIPELINE --for 2h silences a pipeline's alerts during planned work; they resume automatically.",
            ),
        ],
    ),
    "policies/travel-expenses.md": (
        "Travel and expenses policy",
        [
            (
                "Flights",
                "Book economy class for flights under six hours. For longer flights you may book premium economy or business class with your manager's approval.",
            ),
            (
                "Hotels",
                "Hotel rooms may cost up to 180 EUR a night, or 240 EUR in London, Zurich and New York. Book through the travel desk so that we know where you are in an emergency.",
            ),
            (
                "Meals and per diem",
                "On travel days you receive a per diem of 45 EUR for meals instead of claiming receipts.",
            ),
            (
                "Claiming",
                "Submit expense claims with receipts in the expenses tool within 30 days of the trip; later claims need finance director approval.",
            ),
        ],
    ),
    "policies/remote-work.md": (
        "Remote and hybrid work",
        [
            (
                "Where you work",
                "You may work from home or any of our offices. Working from another country is allowed for up to 30 days a year, after telling People Ops so that tax and insurance are checked.",
            ),
            (
                "Core hours",
                "Be available between 10:00 and 15:00 Central European Time for meetings; organise the rest of your day as you like.",
            ),
            (
                "Home office",
                "New employees receive a one-off home office allowance of 500 EUR for a desk, chair or screen.",
            ),
        ],
    ),
    "policies/information-security.txt": (
        "Information security policy",
        [
            (
                "Passwords",
                "Passwords must be at least 14 characters and stored in the company password manager. Never reuse a work password anywhere else.",
            ),
            (
                "Multi-factor authentication",
                "Access to production systems requires a hardware security key. Other systems accept an authenticator app.",
            ),
            (
                "Devices",
                "Company laptops use full-disk encryption and lock after five minutes without activity.",
            ),
            (
                "Reporting",
                "Report suspected phishing or a lost device in the #sec-report channel within one hour, even outside working hours.",
            ),
        ],
    ),
    "policies/data-retention.md": (
        "Data retention policy",
        [
            ("Customer pipeline logs", "Run logs that may contain customer data are deleted after 30 days."),
            (
                "Backups",
                "Database backups are kept for 35 days and are encrypted with keys separate from production.",
            ),
            (
                "Deleted workspaces",
                "When a customer deletes a workspace, its data is purged from all systems, backups included, within 14 days.",
            ),
            (
                "Financial records",
                "Invoices and accounting records are kept for 10 years, as tax law requires.",
            ),
        ],
    ),
    "policies/acceptable-use.txt": (
        "Acceptable use of company systems",
        [
            (
                "Personal use",
                "Occasional personal use of your laptop and accounts is fine as long as it does not interfere with work or break the law.",
            ),
            (
                "Not allowed",
                "Mining cryptocurrency, running unapproved servers, sharing accounts and installing pirated software on company devices are not allowed.",
            ),
            (
                "Customer data",
                "Customer data stays on company systems: never copy it to personal devices, personal cloud storage or AI chat tools that are not approved.",
            ),
        ],
    ),
    "policies/parental-leave.md": (
        "Parental leave",
        [
            ("Birth parent", "The birth parent receives 20 weeks of leave at full pay."),
            (
                "Second parent",
                "The other parent receives 12 weeks at full pay, to be taken within the child's first year, in one block or in up to three parts.",
            ),
            (
                "Adoption and surrogacy",
                "Adopting parents and parents through surrogacy receive the same leave, counted from the day the child joins the family.",
            ),
        ],
    ),
    "policies/on-call.md": (
        "On-call policy",
        [
            (
                "Rotation",
                "Engineers on the on-call rotation cover one week at a time; the handover is on Monday at 10:00.",
            ),
            (
                "Response",
                "Acknowledge a page for a P1 incident within 5 minutes and start working on it within 15 minutes.",
            ),
            (
                "Compensation",
                "Each on-call week pays a 250 EUR allowance, plus 50 EUR for every page answered outside working hours. Time spent on a night incident can be taken off the next day.",
            ),
        ],
    ),
    "policies/procurement.txt": (
        "Buying goods and services",
        [
            (
                "Quotes",
                "Purchases over 5,000 EUR need two competing quotes attached to the purchase request.",
            ),
            (
                "Approvals",
                "Your budget owner approves purchases up to 25,000 EUR; anything above also needs the CFO.",
            ),
            (
                "New software vendors",
                "Any new SaaS tool that will hold company or customer data needs a vendor security review before the contract is signed; file the review request form early, it takes about two weeks.",
            ),
        ],
    ),
    "policies/incident-response.md": (
        "Incident response",
        [
            (
                "Severity",
                "SEV1 means customers cannot run pipelines or data is at risk; SEV2 is a major degradation; SEV3 and SEV4 are minor.",
            ),
            (
                "Communication",
                "For a SEV1 the incident commander posts on the public status page within 15 minutes and updates it at least every 30 minutes.",
            ),
            (
                "Postmortems",
                "Every SEV1 and SEV2 gets a blameless postmortem within 5 working days, with actions that have owners and dates.",
            ),
        ],
    ),
    "policies/annual-leave.txt": (
        "Annual leave",
        [
            (
                "Entitlement",
                "Full-time employees have 28 days of paid holiday a year plus the public holidays of their country.",
            ),
            (
                "Carrying over",
                "Up to 5 unused days can be carried into the next year and must be taken by 31 March.",
            ),
            ("Booking", "Request leave of more than three days at least two weeks ahead in the HR system."),
        ],
    ),
    "policies/code-of-conduct.md": (
        "Code of conduct",
        [
            (
                "Gifts and hospitality",
                "Declare any gift or invitation from a customer or supplier worth more than 50 EUR to the compliance team, and never accept cash.",
            ),
            (
                "Conflicts of interest",
                "Tell your manager about side businesses, investments in suppliers or family ties that could affect your decisions.",
            ),
            (
                "Speaking up",
                "Concerns about misconduct can be raised with your manager, People Ops, or anonymously through the independent speak-up line.",
            ),
        ],
    ),
    "policies/byod.txt": (
        "Using personal phones and tablets",
        [
            (
                "What is allowed",
                "You may read work email and chat on a personal phone once the device management profile is installed.",
            ),
            (
                "Requirements",
                "The device needs a screen lock, a supported operating system version and encryption switched on.",
            ),
            (
                "Lost devices",
                "If the phone is lost, IT wipes only the work profile; your personal photos and apps are not touched.",
            ),
        ],
    ),
    "policies/learning-budget.md": (
        "Learning and development",
        [
            (
                "Budget",
                "Every employee has 1,200 EUR a year for courses, certifications and conferences, agreed with their manager.",
            ),
            ("Learning days", "You also get two paid learning days a year to study or attend events."),
            (
                "Books",
                "Work-related books and e-books can be bought without prior approval and claimed as an expense.",
            ),
        ],
    ),
    "tickets/TW-4102.txt": (
        "Ticket TW-4102: webhook signatures never match",
        [
            (
                "Report",
                "Brightline Logistics says every webhook delivery fails their signature check, so their endpoint answers 401 and deliveries are retried all day.",
            ),
            (
                "Investigation",
                "Their handler parsed the JSON body and serialised it again before computing the HMAC, which changed whitespace and key order.",
            ),
            (
                "Resolution",
                "We advised computing the HMAC over the untouched request bytes. After their deploy all deliveries verified; the disabled webhook was re-enabled.",
            ),
        ],
    ),
    "tickets/TW-4117.md": (
        "Ticket TW-4117: Postgres sync stalled after database failover",
        [
            (
                "Report",
                "Orchard Health's Postgres pipeline stopped after their RDS Multi-AZ failover, with the message that replication slot tide_slot does not exist.",
            ),
            (
                "Cause",
                "Logical replication slots are not copied to the standby, so the new primary had no slot and the changes since the last sync could not be read.",
            ),
            (
                "Resolution",
                "We recreated the slot on the new primary and resynced the four affected tables. We recommended upgrading to PostgreSQL 17, whose failover slots survive a switchover.",
            ),
        ],
    ),
    "tickets/TW-4130.txt": (
        "Ticket TW-4130: Salesforce sync fails with REQUEST_LIMIT_EXCEEDED",
        [
            (
                "Report",
                "Marlow Insurance's Salesforce pipeline failed every afternoon with REQUEST_LIMIT_EXCEEDED, and their own sales tools stopped working at the same time.",
            ),
            (
                "Cause",
                "The pipeline synced 140 objects every five minutes, including field history objects, which used up the org's daily allowance by early afternoon.",
            ),
            (
                "Resolution",
                "The customer moved the pipeline to an hourly schedule and excluded the history objects; usage fell to about a third of the allowance.",
            ),
        ],
    ),
    "tickets/TW-4156.md": (
        "Ticket TW-4156: sign-in loop after certificate rotation",
        [
            (
                "Report",
                "Users at Fennel Foods were sent back and forth between Okta and Tidewater without ever getting in.",
            ),
            (
                "Cause",
                "Their Okta admin had rotated the SAML signing certificate, and the workspace still trusted the old one, so every assertion was rejected.",
            ),
            (
                "Resolution",
                "An admin signed in with the emergency password login and uploaded the new metadata XML; sign-in worked again immediately.",
            ),
        ],
    ),
    "tickets/TW-4171.txt": (
        "Ticket TW-4171: invoice doubled for March",
        [
            ("Report", "Quayside Retail's March invoice showed twice the usual monthly active rows."),
            (
                "Cause",
                "They changed the primary key of their orders table, which forced a full refresh; every row was counted as active again.",
            ),
            (
                "Resolution",
                "As a one-time goodwill gesture, finance issued a credit for the extra rows. We explained that re-keying a large table should be planned at the start of a billing month.",
            ),
        ],
    ),
    "tickets/TW-4188.md": (
        "Ticket TW-4188: CLI fails behind the corporate proxy",
        [
            (
                "Report",
                "A data engineer at Corvid Bank gets SSL: CERTIFICATE_VERIFY_FAILED from every tide command on their Windows laptop, although the web app works.",
            ),
            (
                "Cause",
                "Their Zscaler proxy re-signs TLS traffic with the bank's own root certificate, which the CLI's bundled certificate store does not know.",
            ),
            (
                "Resolution",
                "Setting TIDE_CA_BUNDLE to the exported corporate root certificate fixed it. We added this case to the install guide's troubleshooting list.",
            ),
        ],
    ),
    "tickets/TW-4203.txt": (
        "Ticket TW-4203: nightly run an hour late since the clocks changed",
        [
            (
                "Report",
                "Since the end of October, Hartwell Media's nightly pipeline finishes an hour later than before and their morning dashboards are stale.",
            ),
            (
                "Cause",
                "The schedule had no time zone and so ran in UTC; when Germany left summer time, 02:00 UTC became 03:00 local time.",
            ),
            (
                "Resolution",
                "We set the schedule's time zone to Europe/Berlin so that it follows daylight saving time.",
            ),
        ],
    ),
    "tickets/TW-4219.md": (
        "Ticket TW-4219: incremental model duplicates rows",
        [
            (
                "Report",
                "Pinecrest Energy sees the same meter reading two or three times in their readings model after each load.",
            ),
            (
                "Cause",
                "The incremental model had no unique key, so updated readings were appended instead of replacing the old version.",
            ),
            (
                "Resolution",
                "They added unique_key on meter_id and reading_time and ran one full refresh of the model to remove the existing duplicates.",
            ),
        ],
    ),
    "tickets/TW-4225.txt": (
        "Ticket TW-4225: move our workspace to Europe",
        [
            (
                "Request",
                "Lindqvist Travel created their workspace in us-east and now needs all data processed in the EU for their GDPR assessment.",
            ),
            (
                "Answer",
                "The region cannot be changed by the customer. Support runs a migration to eu-central: we copy pipeline definitions and state, then the workspace is read-only for about four hours while destinations are re-pointed.",
            ),
            (
                "Outcome",
                "The migration was booked for a Saturday two weeks later and completed without data loss.",
            ),
        ],
    ),
    "tickets/TW-4240.md": (
        "Ticket TW-4240: alerts never reach PagerDuty",
        [
            (
                "Report",
                "Alder Analytics configured PagerDuty for failed runs, but no incident was ever opened, while Slack alerts arrived.",
            ),
            (
                "Cause",
                "They had pasted an integration key of the old Events API v1 integration, which PagerDuty silently ignores.",
            ),
            (
                "Resolution",
                "After they created an Events API v2 integration and used its routing key, the test alert opened an incident.",
            ),
        ],
    ),
    "tickets/TW-4252.txt": (
        "Ticket TW-4252: pipelines failed after rotating a database password",
        [
            (
                "Report",
                "Every pipeline of Stonebridge Telecom failed with TW-E101 right after their quarterly password rotation.",
            ),
            (
                "Cause",
                "They deleted the old secret version at the same moment they created the new one, while runs that had already started still held the old password.",
            ),
            (
                "Resolution",
                "The failed runs were restarted. We recommended keeping both passwords valid for an hour during rotation.",
            ),
        ],
    ),
    "tickets/TW-4266.md": (
        "Ticket TW-4266: audit export gets AccessDenied",
        [
            (
                "Report",
                "Greyfriars University's hourly audit export to their S3 bucket failed with AccessDenied.",
            ),
            (
                "Cause",
                "The bucket policy allowed Tidewater's export role to list the bucket but not to write objects into it.",
            ),
            (
                "Resolution",
                "They added s3:PutObject for the export role's ARN on the prefix, and the next hourly export delivered the backlog.",
            ),
        ],
    ),
    "tickets/TW-4279.txt": (
        "Ticket TW-4279: backfill script throttled",
        [
            (
                "Report",
                "A backfill script at Northgate Labs triggered thousands of runs through the API and started receiving 429 responses after a few seconds.",
            ),
            (
                "Advice",
                "We asked them to wait as long as the Retry-After header says, with exponential backoff between retries, instead of retrying immediately.",
            ),
            (
                "Outcome",
                "For the one-off backfill we raised their workspace limit to 1,200 requests a minute for seven days.",
            ),
        ],
    ),
    "tickets/TW-4291.md": (
        "Ticket TW-4291: rows deleted in the source stay in the warehouse",
        [
            (
                "Report",
                "Cobalt Fitness deletes cancelled memberships in their application database, but the rows remain in Snowflake.",
            ),
            (
                "Cause",
                "By default deletes are recorded, not applied: the row stays with the _tide_deleted column set to true.",
            ),
            (
                "Resolution",
                "They switched on Propagate deletes in the connection settings, and deleted rows are now removed from the destination at the next sync.",
            ),
        ],
    ),
    "pdf/release-notes-5.0.pdf": (
        "Tidewater 5.0 release notes",
        [
            (
                "Highlights",
                "Version 5.0 brings a new scheduler with per-schedule time zones, a redesigned run history and the second version of the connector API.",
            ),
            (
                "Breaking changes",
                "Python 3.9 is no longer supported by the CLI. The --all flag of tide run is removed; use tide run --select all.",
            ),
            (
                "Upgrading",
                "Upgrade the CLI before the 5.0 server reaches your workspace; older CLIs print a warning and refuse to edit pipelines.",
            ),
        ],
    ),
    "pdf/release-notes-5.1.pdf": (
        "Tidewater 5.1 release notes",
        [
            (
                "New",
                "Snowflake destinations can authenticate with key-pair authentication instead of a password. Column-level lineage is shown for SQL transformations.",
            ),
            (
                "Fixed",
                "The PostgreSQL connector no longer grows in memory when a table has very wide JSONB columns. Runs that were cancelled now release their warehouse locks.",
            ),
            ("Deprecated", "The v1 connector API will be removed in 5.3."),
        ],
    ),
    "pdf/sla.pdf": (
        "Service level agreement",
        [
            (
                "Availability",
                "Tidewater commits to 99.9 percent monthly availability on the Team plan and 99.95 percent on Enterprise.",
            ),
            (
                "Service credits",
                "If availability falls below the commitment, the customer receives a credit of 10 percent of the monthly fee, or 25 percent below 99.0 percent. Claims must be made within 30 days of the end of the month.",
            ),
            (
                "Exclusions",
                "Scheduled maintenance on Sundays between 02:00 and 04:00 UTC, announced at least five days ahead, does not count as downtime.",
            ),
        ],
    ),
    "pdf/security-whitepaper.pdf": (
        "Security at Tidewater",
        [
            (
                "Encryption",
                "Customer data is encrypted at rest with AES-256 and in transit with TLS 1.2 or later.",
            ),
            (
                "Certifications",
                "Tidewater holds a SOC 2 Type II report and ISO 27001 certification; both are renewed every year.",
            ),
            (
                "Testing",
                "An independent firm tests the platform for vulnerabilities every year, and a public bug bounty programme runs all year round.",
            ),
        ],
    ),
    "pdf/onboarding-handbook.pdf": (
        "New joiner handbook",
        [
            (
                "Your first week",
                "Pick up your laptop from IT on your first morning. Your buddy shows you around and helps you set up your accounts.",
            ),
            (
                "Probation",
                "The probation period is six months, with check-ins with your manager after one, three and six months.",
            ),
            (
                "Pay",
                "Salaries are paid on the 25th of each month, or the working day before if the 25th falls on a weekend.",
            ),
        ],
    ),
    "pdf/dpa.pdf": (
        "Data processing agreement",
        [
            (
                "Sub-processors",
                "Tidewater uses sub-processors for hosting (Amazon Web Services, Google Cloud) and support (Zendesk). The list is published on the trust page.",
            ),
            (
                "Changes",
                "Customers are notified 30 days before a new sub-processor is added and may object within that time.",
            ),
            (
                "Breaches",
                "Tidewater notifies the customer of a personal data breach without undue delay and at the latest within 48 hours of becoming aware of it.",
            ),
        ],
    ),
    "pdf/pricing.pdf": (
        "Plans and pricing",
        [
            (
                "Starter",
                "The Starter plan is free for up to 500,000 monthly active rows and five connectors, with community support.",
            ),
            (
                "Team and Enterprise",
                "Team adds unlimited connectors and email support; Enterprise adds single sign-on, audit log export, private networking and a named account manager.",
            ),
            (
                "Discounts",
                "Paying annually instead of monthly saves 15 percent. Non-profits and universities receive a further 30 percent.",
            ),
        ],
    ),
    "pdf/benefits-guide.pdf": (
        "Employee benefits guide",
        [
            (
                "Health",
                "Private health insurance covers employees and their children; partners can be added at a reduced rate.",
            ),
            ("Pension", "The company matches pension contributions up to 5 percent of salary."),
            (
                "Wellbeing",
                "Employees receive a gym or sports club subsidy of 40 EUR a month and can lease a bicycle through salary sacrifice.",
            ),
        ],
    ),
    "pdf/architecture-overview.pdf": (
        "Platform architecture overview",
        [
            (
                "Control plane and data plane",
                "The control plane holds pipeline definitions, schedules and metadata; the data plane moves and transforms the data itself.",
            ),
            (
                "Hybrid deployment",
                "With hybrid deployment the data plane runs as an agent inside the customer's own network, so data never leaves it. The agent only makes outbound connections on port 443.",
            ),
            (
                "Scaling",
                "Each run gets its own worker; large tables are split into parallel chunks by primary key range.",
            ),
        ],
    ),
}

# HTML pages cycle through the generators' templates, so extraction meets all their page chrome.
_TEMPLATES = (sphinx, mkdocs_material, docusaurus, help_center)


def markdown(title: str, sections: Sections) -> str:
    """The document as light markdown: `#` title, `##` sections."""
    body = "\n\n".join(f"## {heading}\n\n{paragraph}" for heading, paragraph in sections)
    return f"# {title}\n\n{body}\n"


def render(key: str, title: str, sections: Sections, index: int = 0) -> bytes:
    """One document in the file format its key ends with."""
    if key.endswith(".html"):
        return _TEMPLATES[index % len(_TEMPLATES)](title, sections).encode("utf-8")
    source = markdown(title, sections)
    if key.endswith(".md"):
        return source.encode("utf-8")
    blocks = parse_article(source)
    if key.endswith(".txt"):
        return render_text(blocks).encode("utf-8")
    return pdf_bytes(title, blocks)


def write_corpus(documents_dir: Path) -> list[str]:
    """Write every document under `documents_dir` (the landing prefix); returns their keys below it."""
    for index, (key, (title, sections)) in enumerate(sorted(DOCS.items())):
        path = documents_dir / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(render(key, title, sections, index))
    return sorted(DOCS)
