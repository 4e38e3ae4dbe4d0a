"""HTTP handlers of invoices, payments and balances."""

from __future__ import annotations

from aiohttp import web

from crm_core.appkeys import POLICIES, SESSIONS, SETTINGS
from crm_core.crm.finance import INVOICE_LIST, PAYMENT_LIST, FinanceService
from crm_core.crm.finance_schemas import (
    BalanceOut,
    InvoiceIn,
    InvoiceOut,
    InvoicePatchIn,
    PaymentIn,
    PaymentOut,
)
from crm_core.crm.models import Company, Person
from crm_core.crm.policies import CRM_BALANCES, CRM_FINANCE, CRM_READ
from crm_core.httpapi import (
    ApiRegistry,
    audit_context,
    json_ok,
    list_query,
    page_json,
    path_int,
    principal,
    read_body,
)

__all__ = ["register"]


def _finance(request: web.Request) -> FinanceService:
    app = request.app
    return FinanceService(app[SESSIONS], app[POLICIES], app[SETTINGS].default_timezone)


async def list_invoices(request: web.Request) -> web.Response:
    """Invoices of the companies and persons in my scope."""
    page = await _finance(request).list_invoices(
        principal(request), list_query(request, INVOICE_LIST)
    )
    return page_json(page, InvoiceOut.of)


async def create_invoice(request: web.Request) -> web.Response:
    """Record an invoice, pro-forma invoice or order."""
    body = await read_body(request, InvoiceIn)
    inv = await _finance(request).create_invoice(principal(request), body, audit_context(request))
    return json_ok(InvoiceOut.of(inv), status=201)


async def get_invoice(request: web.Request) -> web.Response:
    """One invoice."""
    inv = await _finance(request).get_invoice(principal(request), path_int(request, "invoice_id"))
    return json_ok(InvoiceOut.of(inv))


async def patch_invoice(request: web.Request) -> web.Response:
    """Change an invoice's status, due date or description."""
    body = await read_body(request, InvoicePatchIn)
    inv = await _finance(request).update_invoice(
        principal(request), path_int(request, "invoice_id"), body.changes(), audit_context(request)
    )
    return json_ok(InvoiceOut.of(inv))


async def list_payments(request: web.Request) -> web.Response:
    """Payments of the companies and persons in my scope."""
    page = await _finance(request).list_payments(
        principal(request), list_query(request, PAYMENT_LIST)
    )
    return page_json(page, PaymentOut.of)


async def create_payment(request: web.Request) -> web.Response:
    """Record a payment, allocated to invoices."""
    body = await read_body(request, PaymentIn)
    pay = await _finance(request).create_payment(principal(request), body, audit_context(request))
    return json_ok(PaymentOut.of(pay), status=201)


async def get_payment(request: web.Request) -> web.Response:
    """One payment."""
    pay = await _finance(request).get_payment(principal(request), path_int(request, "payment_id"))
    return json_ok(PaymentOut.of(pay))


async def company_balance(request: web.Request) -> web.Response:
    """A company's balance due and days overdue, per currency."""
    as_of, masked, balances = await _finance(request).balance(
        principal(request), Company, path_int(request, "company_id")
    )
    return json_ok(BalanceOut(as_of=as_of, masked=masked, balances=balances))


async def person_balance(request: web.Request) -> web.Response:
    """A person's balance due and days overdue, per currency."""
    as_of, masked, balances = await _finance(request).balance(
        principal(request), Person, path_int(request, "person_id")
    )
    return json_ok(BalanceOut(as_of=as_of, masked=masked, balances=balances))


def register(api: ApiRegistry) -> None:
    """Declare the finance endpoints."""
    tag = "crm-finance"
    for path, noun, lst, create, get, spec, body, out in (
        (
            "/api/invoices",
            "invoice",
            list_invoices,
            create_invoice,
            get_invoice,
            INVOICE_LIST,
            InvoiceIn,
            InvoiceOut,
        ),
        (
            "/api/payments",
            "payment",
            list_payments,
            create_payment,
            get_payment,
            PAYMENT_LIST,
            PaymentIn,
            PaymentOut,
        ),
    ):
        api.route(
            "GET",
            path,
            summary=f"List {noun}s of records in my scope",
            tag=tag,
            permission=CRM_BALANCES,
            response=out,
            list_spec=spec,
            errors=(400, 401, 403),
        )(lst)
        api.route(
            "POST",
            path,
            summary=f"Record a {noun}",
            tag=tag,
            permission=CRM_FINANCE,
            body=body,
            response=out,
            status=201,
            audited=True,
            errors=(400, 401, 403, 409, 415),
        )(create)
        api.route(
            "GET",
            rf"{path}/{{{noun}_id:\d+}}",
            summary=f"Get a {noun}",
            tag=tag,
            permission=CRM_BALANCES,
            response=out,
            errors=(401, 403, 404),
        )(get)
    api.route(
        "PATCH",
        r"/api/invoices/{invoice_id:\d+}",
        summary="Change an invoice's status, due date or description",
        tag=tag,
        permission=CRM_FINANCE,
        body=InvoicePatchIn,
        response=InvoiceOut,
        audited=True,
        errors=(400, 401, 403, 404, 415),
    )(patch_invoice)
    for path, handler, noun in (
        (r"/api/companies/{company_id:\d+}/balance", company_balance, "company"),
        (r"/api/persons/{person_id:\d+}/balance", person_balance, "person"),
    ):
        api.route(
            "GET",
            path,
            summary=f"A {noun}'s balance due per currency (masked without crm.balances)",
            tag=tag,
            permission=CRM_READ,
            response=BalanceOut,
            errors=(401, 403, 404),
        )(handler)
