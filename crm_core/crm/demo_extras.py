"""More demo CRM data: Persian and English private customers, lead sources, custom attributes,
bank accounts, branches, the product catalogue, products held and contracts.

Called by :func:`crm_core.crm.demo.load_demo_data` after the first demo contacts exist; like them,
everything goes through the services. The numbers of the first demo callers are left alone (the
PBX simulator dials them) and no company is added; the persons added have numbers of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_core.crm.catalog import Catalog
from crm_core.crm.finance import FinanceService
from crm_core.crm.finance_schemas import InvoiceIn
from crm_core.crm.holdings import HoldingsService
from crm_core.crm.models import Company, Person
from crm_core.crm.parts import PartsService
from crm_core.crm.parts_schemas import BankAccountIn, BranchIn, ContractIn, HeldProductIn
from crm_core.crm.schemas import AddressIn, EmailIn, PersonIn, PhoneIn
from crm_core.crm.service import CrmService
from crm_core.users.audit import AuditContext
from crm_core.users.permissions import PolicyRegistry, Principal

__all__ = ["DemoExtras", "load_demo_extras"]


@dataclass(frozen=True)
class DemoExtras:
    """The services and context the extra demo data is created with."""

    sessions: async_sessionmaker[AsyncSession]
    policies: PolicyRegistry
    admin: Principal
    ctx: AuditContext
    region: str
    territory_id: int
    today: date


def _birthday_today(today: date) -> date:
    """A birth date whose anniversary is ``today`` (29 February falls back to a leap year)."""
    year = 1988 if not (today.month == 2 and today.day == 29) else 1984
    return today.replace(year=year)


async def load_demo_extras(
    d: DemoExtras,
    crm: CrmService,
    finance: FinanceService,
    companies: dict[str, Company],
    persons: dict[str, Person],
) -> int:
    """Add the extra demo data; return the number of persons added."""
    catalog = Catalog(d.sessions)
    parts = PartsService(d.sessions, d.policies, d.region)
    holdings = HoldingsService(d.sessions, d.policies)
    admin, ctx = d.admin, d.ctx
    fair = await catalog.create(
        admin, "lead_source", {"name": "Trade fair", "description": "", "active": True}, ctx
    )
    web = await catalog.create(
        admin, "lead_source", {"name": "Web site", "description": "", "active": True}, ctx
    )
    for name, label, kind, choices in (
        ("rooms", "Rooms", "number", []),
        ("tier", "Customer tier", "choice", ["gold", "silver", "bronze"]),
    ):
        await catalog.create(
            admin,
            "attribute",
            {
                "entity_type": "company",
                "name": name,
                "label": label,
                "type": kind,
                "choices": choices,
                "required": False,
                "position": 0,
            },
            ctx,
        )
    for code, attributes in (
        ("DEMO-OLYMPOS", {"rooms": 240, "tier": "gold"}),
        ("DEMO-ACME", {"tier": "silver"}),
        ("DEMO-CARPATI", {"tier": "bronze"}),
    ):
        await crm.update_company(admin, companies[code].id, {"attributes": attributes}, ctx)

    added = 0
    for key, given, family, language, salutation, phone, email, street, city, country in (
        (
            "sara",
            "سارا",
            "احمدی",
            "fa",
            "سرکار خانم احمدی",
            "+98 912 345 6789",
            "sara.ahmadi@example.ir",
            "خیابان ولیعصر ۱۲",
            "تهران",
            "IR",
        ),
        (
            "reza",
            "رضا",
            "محمدی",
            "fa",
            "جناب آقای محمدی",
            "+98 21 8888 1234",
            "reza.mohammadi@example.ir",
            "خیابان انقلاب ۴۵",
            "اصفهان",
            "IR",
        ),
        (
            "james",
            "James",
            "Wilson",
            "en-GB",
            "Dear Mr Wilson",
            "+44 20 7946 0123",
            "james.wilson@example.co.uk",
            "221 Baker Street",
            "London",
            "GB",
        ),
        (
            "emily",
            "Emily",
            "Clarke",
            "en-GB",
            "Dear Ms Clarke",
            "+44 7700 900123",
            "emily.clarke@example.com",
            "12 Queen Street",
            "Edinburgh",
            "GB",
        ),
    ):
        persons[key] = await crm.create_person(
            admin,
            PersonIn(
                given_name=given,
                family_name=family,
                language=language,
                territory_id=d.territory_id,
                salutation=salutation,
                status="active",
                # Emily and Sara have their birthday today: the screen pop and the celebrations
                # list show them.
                birth_date=_birthday_today(d.today) if key in ("emily", "sara") else None,
                lead_source_id=fair.id if language == "fa" else web.id,
                lead_source_note="Met at the 2026 trade fair" if language == "fa" else "",
                phones=[PhoneIn(kind="mobile", number=phone)],
                emails=[EmailIn(kind="home", address=email)],
                addresses=[AddressIn(kind="home", street=street, city=city, country=country)],
            ),
            ctx,
        )
        added += 1

    await finance.create_invoice(
        admin,
        InvoiceIn(
            number="DEMO-UK-0003",
            issued_on=d.today - timedelta(days=25),
            due_on=d.today - timedelta(days=5),
            amount=Decimal("640.00"),
            currency="GBP",
            person_id=persons["james"].id,
        ),
        ctx,
    )

    for code, iban, bank, bic, currency in (
        ("DEMO-ACME", "GR16 0110 1250 0000 0001 2300 695", "NBG", "ETHNGRAA", "EUR"),
        ("DEMO-CARPATI", "RO49 AAAA 1B31 0075 9384 0000", "Banca Transilvania", "BTRLRO22", "RON"),
        ("DEMO-DUNA", "HU42 1177 3016 1111 1018 0000 0000", "OTP Bank", "OTPVHUHB", "HUF"),
        ("DEMO-OLYMPOS", "GR96 0810 0010 0000 0123 4567 890", "Eurobank", "ERBKGRAA", "EUR"),
    ):  # fmt: skip
        await parts.create_part(
            admin,
            companies[code].id,
            BankAccountIn(iban=iban, bank_name=bank, bic=bic, currency=currency, is_primary=True),
            ctx,
        )
    for code, name, branch_code, city, phone, manager in (
        ("DEMO-ACME", "Acme Θεσσαλονίκης", "SKG", "Θεσσαλονίκη", "+30 2310 600 100", None),
        ("DEMO-OLYMPOS", "Όλυμπος Χαλκιδική", "CHK", "Κασσάνδρα", "+30 23740 22 000", "giorgos"),
    ):
        await parts.create_part(
            admin,
            companies[code].id,
            BranchIn(
                name=name,
                code=branch_code,
                city=city,
                country="GR",
                phones=[PhoneIn(kind="work", number=phone)],
                manager_person_id=persons[manager].id if manager else None,
            ),
            ctx,
        )

    products = {}
    for code, name, price, currency in (
        ("DEMO-MAINT", "Annual maintenance", "480.00", "EUR"),
        ("DEMO-POS", "POS terminal", "299.00", "EUR"),
        ("DEMO-SUPPORT", "Priority support line", "60.00", "EUR"),
    ):
        products[code] = await catalog.create(
            admin,
            "product",
            {
                "code": code,
                "name": name,
                "price": Decimal(price),
                "currency": currency,
                "active": True,
            },
            ctx,
        )
    for product, company, person, quantity, ago in (
        ("DEMO-POS", "DEMO-ACME", None, "3", 400),
        ("DEMO-POS", "DEMO-OLYMPOS", None, "12", 200),
        ("DEMO-SUPPORT", None, "eleni", "1", 90),
        ("DEMO-SUPPORT", None, "emily", "1", 30),
    ):
        await holdings.create_owned(
            admin,
            HeldProductIn(
                product_id=products[product].id,
                company_id=companies[company].id if company else None,
                person_id=persons[person].id if person else None,
                quantity=Decimal(quantity),
                acquired_on=d.today - timedelta(days=ago),
            ),
            ctx,
        )
    contracts: tuple[tuple[str, str | None, str | None, str | None, int, str, str, int], ...] = (
        ("DEMO-C-2025-01", "DEMO-ACME", None, "DEMO-MAINT", 335, "480.00", "EUR", 20),
        ("DEMO-C-2026-02", "DEMO-OLYMPOS", None, "DEMO-MAINT", 60, "1440.00", "EUR", 275),
        ("DEMO-C-2026-03", None, "james", None, 10, "5000.00", "GBP", 340),
    )
    for number, company, person, product_code, started_ago, value, currency, renew_in in contracts:
        start = d.today - timedelta(days=started_ago)
        await holdings.create_owned(
            admin,
            ContractIn(
                number=number,
                company_id=companies[company].id if company else None,
                person_id=persons[person].id if person else None,
                product_id=products[product_code].id if product_code else None,
                starts_on=start,
                ends_on=start + timedelta(days=365),
                value=Decimal(value),
                currency=currency,
                renewal_on=d.today + timedelta(days=renew_in),
            ),
            ctx,
        )
    return added
