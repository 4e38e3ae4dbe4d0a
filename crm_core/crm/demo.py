"""Demo CRM data for ``callboard demo``: contacts in several languages whose numbers call in.

Everything goes through the CRM services, so the demo data passes the same validation as data
entered through the API. Loading is idempotent: it does nothing when the demo companies exist.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_core.crm.access import AccessService
from crm_core.crm.access_schemas import GrantIn, TerritoryIn
from crm_core.crm.demo_extras import DemoExtras, load_demo_extras
from crm_core.crm.finance import FinanceService
from crm_core.crm.finance_schemas import InvoiceIn
from crm_core.crm.models import Company
from crm_core.crm.policies import crm_policies
from crm_core.crm.schemas import AddressIn, CompanyIn, EmailIn, EmploymentIn, PersonIn, PhoneIn
from crm_core.crm.service import CrmService
from crm_core.crm.work import WorkService
from crm_core.crm.work_schemas import ActivityIn, ParticipantIn, TicketIn
from crm_core.users.audit import AuditContext
from crm_core.users.models import Role
from crm_core.users.permissions import Principal, default_policies

__all__ = ["DemoSummary", "load_demo_data"]

log = logging.getLogger(__name__)
MARKER_CODE = "DEMO-ACME"


@dataclass(frozen=True)
class DemoSummary:
    """What was loaded."""

    companies: int
    persons: int
    invoices: int
    tickets: int


async def load_demo_data(
    sessions: async_sessionmaker[AsyncSession],
    *,
    admin_user_id: int,
    region: str,
    timezone: str,
    agent_user_ids: tuple[int, ...] = (),
) -> DemoSummary | None:
    """Create the demo companies, persons, invoices, tickets and activities (once)."""
    async with sessions() as db:
        if await db.scalar(select(Company.id).where(Company.code == MARKER_CODE)) is not None:
            return None
    policies = default_policies(extra=crm_policies())
    admin = Principal(user_id=admin_user_id, username="admin", roles=frozenset({Role.ADMIN}))
    ctx = AuditContext(method="DEMO", path="callboard demo")
    crm = CrmService(sessions, policies, region)
    finance = FinanceService(sessions, policies, timezone)
    work = WorkService(sessions, policies, timezone)
    today = datetime.now(ZoneInfo(timezone)).date()
    # Agents and supervisors work the demo customers: one territory granted to both roles.
    access = AccessService(sessions)
    territory = await access.create_territory(
        admin, TerritoryIn(name="Demo customers", description="callboard demo"), ctx
    )
    for role in ("agent", "supervisor"):
        await access.add_grant(admin, territory.id, GrantIn(role=role), ctx)

    def days_ago(n: int) -> date:
        return today - timedelta(days=n)

    companies = {}
    for code, name, industry, city, country, phone, status in (
        (MARKER_CODE, "Acme Hellas A.E.", "Retail", "Αθήνα", "GR", "+30 210 123 4500", "active"),
        (
            "DEMO-OLYMPOS",
            "Ξενοδοχεία Όλυμπος",
            "Hotels",
            "Θεσσαλονίκη",
            "GR",
            "+30 2310 555 100",
            "active",
        ),
        (
            "DEMO-CARPATI",
            "Carpați Logistic SRL",
            "Logistics",
            "București",
            "RO",
            "+40 21 345 6700",
            "active",
        ),
        (
            "DEMO-DUNA",
            "Duna Kereskedelmi Kft.",
            "Wholesale",
            "Budapest",
            "HU",
            "+36 1 234 5600",
            "prospect",
        ),
    ):
        companies[code] = await crm.create_company(
            admin,
            CompanyIn(
                code=code,
                name=name,
                industry=industry,
                territory_id=territory.id,
                status=status,
                roles=["customer"] if status == "active" else ["prospect"],
                phones=[PhoneIn(kind="work", number=phone)],
                addresses=[AddressIn(kind="head_office", city=city, country=country)],
            ),
            ctx,
        )

    persons = {}
    for key, given, family, language, salutation, phone, email, company in (
        (
            "maria",
            "Μαρία",
            "Παπαδοπούλου",
            "el",
            "Αγαπητή κυρία Παπαδοπούλου",
            "+30 210 123 4567",
            "maria@acme-hellas.example",
            MARKER_CODE,
        ),
        (
            "giorgos",
            "Γιώργος",
            "Νικολάου",
            "el",
            "Αγαπητέ κύριε Νικολάου",
            "+30 2310 555 123",
            "g.nikolaou@olympos.example",
            "DEMO-OLYMPOS",
        ),
        (
            "ioana",
            "Ioana",
            "Popescu",
            "ro",
            "Stimată doamnă Popescu",
            "+40 21 345 6789",
            "ioana.popescu@carpati.example",
            "DEMO-CARPATI",
        ),
        (
            "peter",
            "Péter",
            "Kovács",
            "hu",
            "Tisztelt Kovács Úr",
            "+36 1 234 5678",
            "kovacs.peter@duna.example",
            "DEMO-DUNA",
        ),
        (
            "eleni",
            "Ελένη",
            "Γεωργίου",
            "el",
            "Αγαπητή κυρία Γεωργίου",
            "+30 697 123 4567",
            "eleni.georgiou@example.com",
            None,
        ),
    ):
        employment = (
            [EmploymentIn(company_id=companies[company].id, is_primary=True)] if company else []
        )
        persons[key] = await crm.create_person(
            admin,
            PersonIn(
                given_name=given,
                family_name=family,
                language=language,
                territory_id=territory.id,
                salutation=salutation,
                phones=[PhoneIn(kind="mobile" if company is None else "work", number=phone)],
                emails=[EmailIn(kind="work", address=email)],
                companies=employment,
            ),
            ctx,
        )

    invoices = 0
    for number, company, person, issued, due, amount, currency, status in (
        ("DEMO-2026-0101", MARKER_CODE, None, 75, 45, "1240.00", "EUR", "issued"),
        ("DEMO-2026-0144", MARKER_CODE, None, 20, -10, "385.50", "EUR", "issued"),
        ("DEMO-2026-0150", "DEMO-OLYMPOS", None, 40, 10, "2980.00", "EUR", "issued"),
        ("DEMO-RO-0012", "DEMO-CARPATI", None, 50, 20, "7450.00", "RON", "issued"),
        ("DEMO-HU-0007", "DEMO-DUNA", None, 15, -15, "185000", "HUF", "issued"),
        ("DEMO-2026-0161", None, "eleni", 35, 5, "89.90", "EUR", "issued"),
    ):
        await finance.create_invoice(
            admin,
            InvoiceIn(
                number=number,
                issued_on=days_ago(issued),
                due_on=days_ago(due),
                amount=Decimal(amount),
                currency=currency,
                status=status,
                company_id=companies[company].id if company else None,
                person_id=persons[person].id if person else None,
            ),
            ctx,
        )
        invoices += 1

    tickets = 0
    for subject, company, person, priority, status in (
        ("Η παράδοση καθυστερεί", MARKER_CODE, "maria", "high", "open"),
        ("Αντίγραφο τιμολογίου", "DEMO-OLYMPOS", "giorgos", "normal", "new"),
        ("Reclamație colet deteriorat", "DEMO-CARPATI", "ioana", "urgent", "open"),
    ):
        await work.create_ticket(
            admin,
            TicketIn(
                subject=subject,
                priority=priority,
                status=status,
                channel="call",
                company_id=companies[company].id,
                person_id=persons[person].id,
                assigned_user_id=agent_user_ids[0] if agent_user_ids else None,
            ),
            ctx,
        )
        tickets += 1

    zone = ZoneInfo(timezone)
    for person, company, subject, notes, ago in (
        (
            "maria",
            MARKER_CODE,
            "Ρύθμιση οφειλής",
            "Ζήτησε δόσεις για το τιμολόγιο 0101· θα στείλει πρόταση.",
            3,
        ),
        ("ioana", "DEMO-CARPATI", "Confirmare livrare", "Livrarea confirmată pentru luni.", 6),
    ):
        at = datetime.combine(days_ago(ago), time(11, 30), zone)
        await work.create_activity(
            admin,
            ActivityIn(
                type="call",
                subject=subject,
                notes=notes,
                starts_at=at,
                ends_at=at + timedelta(minutes=4),
                duration_seconds=240,
                status="done",
                responsible_user_id=agent_user_ids[0] if agent_user_ids else None,
                participants=[
                    ParticipantIn(person_id=persons[person].id),
                    ParticipantIn(company_id=companies[company].id),
                ],
            ),
            ctx,
        )
    extras = DemoExtras(sessions, policies, admin, ctx, region, territory.id, today)
    await load_demo_extras(extras, crm, finance, companies, persons)
    summary = DemoSummary(len(companies), len(persons), invoices + 1, tickets)
    log.info("demo CRM data loaded: %s", summary)
    return summary
