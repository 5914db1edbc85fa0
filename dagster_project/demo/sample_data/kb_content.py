"""Knowledge-base articles of the fictional web shop Kestrel Home, written once as light markdown."""

from __future__ import annotations

SHOP = "Kestrel Home"

# slug -> article in a markdown subset: "# " title, "## " section, "- " bullet, "---" rule (a page
# break in PDF), paragraphs separated by blank lines.
ARTICLES: dict[str, str] = {
    "shipping": """# Shipping and delivery

Kestrel Home ships homeware from our warehouse in Leeds to the United Kingdom, Ireland and most of
the European Union. Orders placed before 14:00 UK time on a working day leave the warehouse the same day.

## Delivery options

- Standard delivery: 3 to 5 working days, free on orders over EUR 60, otherwise EUR 4.95.
- Express delivery: next working day to the UK mainland, EUR 9.95.
- Furniture delivery: a two-person team books a one-hour slot with you by phone, EUR 39.

## Tracking your parcel

As soon as your parcel is handed to the carrier you receive a dispatch email with a tracking link.
Tracking can take up to 24 hours to show the first scan. If your parcel has not moved for three
working days, contact us and we will open an investigation with the carrier.

## Delivery to the EU

Prices on the EU store include VAT and import duties, so there is nothing to pay on delivery.
Deliveries to islands and remote areas can take two extra working days.
""",
    "returns": """# Returns and refunds

You can return most items within 30 days of delivery for a full refund. Returns are free for
customers in the UK and Ireland; for the rest of the EU we deduct EUR 6.50 from the refund.

## How to return an item

- Sign in, open Orders and choose Return next to the item.
- Print the prepaid label, or show the QR code at a drop-off point.
- Pack the item in its original packaging if you still have it.

## Refunds

We refund to the original payment method within 5 working days of the item reaching our warehouse.
Your bank may take another 3 to 5 days to show the money in your account.

## Items we cannot take back

Made-to-measure curtains, opened candles and gift cards cannot be returned unless they are faulty.
""",
    "payments": """# Payments

We accept Visa, Mastercard, American Express, PayPal, Apple Pay, Google Pay and Kestrel Home gift cards.

## When you are charged

Your card is authorised when you place the order and charged when the order ships. If an order
ships in several parcels you may see several charges that add up to the order total.

## Paying in instalments

Orders between EUR 100 and EUR 2,000 can be split into three interest-free instalments at checkout.
The first instalment is taken when the order ships.

## Failed or duplicate payments

If a payment fails the authorisation is released by your bank within 7 days. We never store your full
card number: our payment provider keeps it, and we only see the last four digits.
""",
    "warranty": """# Warranty

Every Kestrel Home product carries a two-year warranty against manufacturing faults. Furniture and
lighting carry a five-year warranty on frames and electrical parts.

## What the warranty covers

- Faulty materials or workmanship that appear under normal household use.
- Electrical faults in lamps and light fittings, excluding bulbs.
- Loose joints or broken frames on furniture assembled as instructed.

## What it does not cover

Normal wear and tear, accidental damage, damage from commercial use and items altered after purchase.

## Making a claim

Send us your order number, a short description and a photo of the fault. We repair, replace or refund
the item, at our choice, within 14 days of approving the claim.
""",
    "account": """# Your account

An account lets you track orders, start returns and save addresses and favourites.

## Signing in

Sign in with your email address and password, or with a one-time link sent to your email.
After five failed attempts the account is locked for 30 minutes to protect you.

## Resetting your password

Choose Forgot password on the sign-in page. The reset link is valid for one hour. If the email does
not arrive, check your spam folder and make sure you use the address your account was created with.

## Closing your account

You can close your account under Settings. Open orders and returns are completed first; order records
are kept for seven years because tax law requires it.
""",
    "privacy_policy": """# Privacy policy

This policy explains what personal data Kestrel Home Ltd collects, why, and what your rights are.
Kestrel Home Ltd is the data controller for the personal data described here.

## Data we collect

- Identity and contact data: your name, email address, phone number and delivery addresses.
- Order data: what you bought, when, and how you paid (never your full card number).
- Support data: the messages you send us and notes from phone calls.
- Usage data: pages you visit on our shop, collected with your consent through cookies.

## Why we use it

We use your data to deliver orders, handle returns and warranty claims, answer support requests, prevent
fraud and, only if you agree, send you offers. We never sell personal data.

---

## How long we keep it

Order and payment records are kept for seven years for tax purposes. Support conversations are deleted
two years after the ticket is solved. Marketing preferences are kept until you change them.

## Your rights

You can ask for a copy of your data, ask us to correct or delete it, object to marketing and complain
to your data protection authority. Requests are answered within one month.

## Contact

Write to our data protection team at privacy@kestrelhome.example or to Kestrel Home Ltd, Data Protection,
1 Example Street, Leeds LS1 0AA, United Kingdom.
""",
    "faq": """# Frequently asked questions

## Can I change my order after placing it?

You can change or cancel an order for one hour after placing it, under Orders in your account. After
that the warehouse may already be packing it; you can still return it once it arrives.

## Do you sell gift cards?

Yes. Digital gift cards from EUR 10 to EUR 500 are delivered by email and are valid for two years.

## Do you ship outside Europe?

Not yet. We ship to the United Kingdom, Ireland and most EU countries.

## Is my item in stock?

The product page shows stock for standard delivery. Items marked Made to order ship in 3 to 4 weeks.
""",
    "contact": """# Contact us

Our customer care team answers messages Monday to Friday, 08:00 to 18:00 UK time.

## How to reach us

- Chat: open the chat bubble on any page while signed in.
- Email: support@kestrelhome.example, we reply within one working day.
- Phone: +44 20 7946 0000, Monday to Friday.

## Escalations

If your complaint is not resolved within 14 days, our customer care manager Priya Nair reviews it
personally. You can write to her at priya.nair@kestrelhome.example or call +44 20 7946 0817.
""",
    "gift_cards": """# Gift cards

Kestrel Home gift cards can be used on the web shop for any product, including sale items.

## Buying a gift card

Choose an amount between EUR 10 and EUR 500, add a message and the recipient's email address. The card
is sent at the date and time you choose.

## Using a gift card

Enter the 16-character code at checkout. If the order costs more than the card balance, pay the rest
by card or PayPal. Unused balance stays on the card until it expires two years after purchase.
""",
    "internal_escalations": """# Internal: escalation contacts

For staff only. Do not share this page with customers.

## Warehouse

Duty manager this month: Tomasz Kowalski, tomasz.kowalski@kestrelhome.example, mobile +44 20 7946 0391.
Call the duty manager for lost parcels worth more than EUR 500 and for damaged furniture deliveries.

## Payments

Disputed card payments go to Helen Okafor in finance, helen.okafor@kestrelhome.example. Never ask a
customer to send a full card number by email or chat; if they do, redact it before saving the ticket.

## Data protection

Deletion requests under GDPR go to privacy@kestrelhome.example within 24 hours of receipt.
""",
    "care_guide": """# Product care guide

Simple care keeps your Kestrel Home products looking good for years.

## Wood and furniture

Dust with a dry, soft cloth. Wipe spills at once and avoid placing furniture in direct sunlight or next
to radiators. Oil solid oak and walnut once a year with the care oil supplied.

## Textiles

Wash linen and cotton at 30 degrees and dry flat to avoid shrinking. Rugs should be vacuumed weekly
without the beater bar.

## Ceramics and stoneware

Stoneware is dishwasher safe unless the label says otherwise. Hand-painted pieces should be washed by hand.
""",
}

# (slug, file name, format): the published knowledge base, in the formats the CMS exports.
DOCUMENTS: list[tuple[str, str, str]] = [
    ("shipping", "shipping.md", "md"),
    ("returns", "returns.md", "md"),
    ("payments", "payments.html", "html"),
    ("warranty", "warranty.html", "html"),
    ("account", "account.txt", "txt"),
    ("privacy_policy", "privacy_policy.pdf", "pdf"),
    ("faq", "faq.html", "html"),
    ("contact", "contact.md", "md"),
    ("gift_cards", "gift_cards.txt", "txt"),
    ("internal_escalations", "internal_escalations.txt", "txt"),
    ("care_guide", "care_guide.pdf", "pdf"),
]
PII_SLUGS = {"contact", "internal_escalations"}

# An old revision of the returns page left behind on the CMS: same text, a few words different.
NEAR_DUPLICATE = (
    "returns",
    "returns_2025.md",
    [("30 days", "14 days"), ("5 working days", "10 working days")],
)
# The shipping page uploaded twice under another name.
EXACT_DUPLICATE = ("shipping.md", "shipping_copy.md")

SIDECARS: dict[str, dict[str, str]] = {
    "shipping.md": {"department": "logistics", "audience": "customers"},
    "privacy_policy.pdf": {"department": "legal", "audience": "customers"},
}
