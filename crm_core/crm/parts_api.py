"""HTTP handlers of company bank accounts and branches, products held and contracts."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel

from crm_core.appkeys import POLICIES, SESSIONS, SETTINGS
from crm_core.crm.ext_models import BankAccount, Branch, Contract, HeldProduct
from crm_core.crm.holdings import CONTRACT_LIST, HELD_PRODUCT_LIST, HoldingsService
from crm_core.crm.parts import BANK_ACCOUNT_LIST, BRANCH_LIST, PartsService
from crm_core.crm.parts_schemas import (
    BankAccountIn,
    BankAccountOut,
    BankAccountPatchIn,
    BranchIn,
    BranchOut,
    BranchPatchIn,
    ContractIn,
    ContractOut,
    ContractPatchIn,
    HeldProductIn,
    HeldProductOut,
    HeldProductPatchIn,
)
from crm_core.crm.policies import CRM_READ, CRM_WRITE
from crm_core.crm.schema_base import Patch
from crm_core.httpapi import (
    ApiRegistry,
    Handler,
    audit_context,
    json_ok,
    list_query,
    page_json,
    path_int,
    principal,
    read_body,
)
from crm_core.listing import ListSpec

__all__ = ["register"]

TAG = "crm"
Model = Any


def _parts(request: web.Request) -> PartsService:
    app = request.app
    return PartsService(app[SESSIONS], app[POLICIES], app[SETTINGS].default_region)


def _holdings(request: web.Request) -> HoldingsService:
    return HoldingsService(request.app[SESSIONS], request.app[POLICIES])


def _company_part_handlers(
    model: Model,
    noun: str,
    spec: ListSpec,
    body_in: type[BankAccountIn] | type[BranchIn],
    patch_in: type[Patch],
    out: Any,
    key: str,
) -> tuple[Handler, Handler, Handler, Handler, Handler]:
    async def list_(request: web.Request) -> web.Response:
        page = await _parts(request).list_parts(
            principal(request), model, path_int(request, "company_id"), list_query(request, spec)
        )
        return page_json(page, out.of)

    async def create(request: web.Request) -> web.Response:
        body = await read_body(request, body_in)
        obj = await _parts(request).create_part(
            principal(request), path_int(request, "company_id"), body, audit_context(request)
        )
        return json_ok(out.of(obj), status=201)

    async def get(request: web.Request) -> web.Response:
        obj = await _parts(request).get_part(
            principal(request), model, path_int(request, "company_id"), path_int(request, key)
        )
        return json_ok(out.of(obj))

    async def patch(request: web.Request) -> web.Response:
        body = await read_body(request, patch_in)
        obj = await _parts(request).update_part(
            principal(request),
            model,
            path_int(request, "company_id"),
            path_int(request, key),
            body.changes(),
            audit_context(request),
        )
        return json_ok(out.of(obj))

    async def delete(request: web.Request) -> web.Response:
        await _parts(request).delete_part(
            principal(request),
            model,
            path_int(request, "company_id"),
            path_int(request, key),
            audit_context(request),
        )
        return web.Response(status=204)

    return _named(noun, list_, create, get, patch, delete)


def _owned_handlers(
    model: Model,
    noun: str,
    spec: ListSpec,
    body_in: type[HeldProductIn] | type[ContractIn],
    patch_in: type[Patch],
    out: Any,
    key: str,
) -> tuple[Handler, Handler, Handler, Handler, Handler]:
    async def list_(request: web.Request) -> web.Response:
        page = await _holdings(request).list_owned(
            principal(request), model, list_query(request, spec)
        )
        return page_json(page, out.of)

    async def create(request: web.Request) -> web.Response:
        body = await read_body(request, body_in)
        obj = await _holdings(request).create_owned(
            principal(request), body, audit_context(request)
        )
        return json_ok(out.of(obj), status=201)

    async def get(request: web.Request) -> web.Response:
        obj = await _holdings(request).get_owned(principal(request), model, path_int(request, key))
        return json_ok(out.of(obj))

    async def patch(request: web.Request) -> web.Response:
        body = await read_body(request, patch_in)
        obj = await _holdings(request).update_owned(
            principal(request),
            model,
            path_int(request, key),
            body.changes(),
            audit_context(request),
        )
        return json_ok(out.of(obj))

    async def delete(request: web.Request) -> web.Response:
        await _holdings(request).delete_owned(
            principal(request), model, path_int(request, key), audit_context(request)
        )
        return web.Response(status=204)

    return _named(noun, list_, create, get, patch, delete)


def _named(noun: str, *handlers: Handler) -> tuple[Handler, Handler, Handler, Handler, Handler]:
    for fn, verb in zip(handlers, ("list", "create", "get", "patch", "delete"), strict=True):
        fn.__name__ = f"{verb}_{noun}"
        fn.__doc__ = f"{verb.capitalize()} {noun.replace('_', ' ')}(s)."
    list_, create, get, patch, delete = handlers
    return list_, create, get, patch, delete


def _declare(
    api: ApiRegistry,
    path: str,
    key: str,
    label: str,
    spec: ListSpec,
    body_in: type[BaseModel],
    patch_in: type[BaseModel],
    out: type[BaseModel],
    handlers: tuple[Handler, Handler, Handler, Handler, Handler],
) -> None:
    list_h, create_h, get_h, patch_h, delete_h = handlers
    one = rf"{path}/{{{key}:\d+}}"
    writes = (400, 401, 403, 404, 409, 415)
    api.route(
        "GET",
        path,
        summary=f"List {label}s",
        tag=TAG,
        permission=CRM_READ,
        response=out,
        list_spec=spec,
        errors=(400, 401, 403, 404),
    )(list_h)
    api.route(
        "POST",
        path,
        summary=f"Add a {label}",
        tag=TAG,
        permission=CRM_WRITE,
        body=body_in,
        response=out,
        status=201,
        audited=True,
        errors=writes,
    )(create_h)
    api.route(
        "GET",
        one,
        summary=f"Get a {label}",
        tag=TAG,
        permission=CRM_READ,
        response=out,
        errors=(401, 403, 404),
    )(get_h)
    api.route(
        "PATCH",
        one,
        summary=f"Change a {label}",
        tag=TAG,
        permission=CRM_WRITE,
        body=patch_in,
        response=out,
        audited=True,
        errors=writes,
    )(patch_h)
    api.route(
        "DELETE",
        one,
        summary=f"Delete a {label}",
        tag=TAG,
        permission=CRM_WRITE,
        status=204,
        audited=True,
        errors=(401, 403, 404),
    )(delete_h)


def register(api: ApiRegistry) -> None:
    """Declare the endpoints of bank accounts, branches, products held and contracts."""
    company = r"/api/companies/{company_id:\d+}"
    _declare(
        api,
        f"{company}/bank-accounts",
        "account_id",
        "company bank account",
        BANK_ACCOUNT_LIST,
        BankAccountIn,
        BankAccountPatchIn,
        BankAccountOut,
        _company_part_handlers(
            BankAccount,
            "bank_account",
            BANK_ACCOUNT_LIST,
            BankAccountIn,
            BankAccountPatchIn,
            BankAccountOut,
            "account_id",
        ),
    )
    _declare(
        api,
        f"{company}/branches",
        "branch_id",
        "company branch",
        BRANCH_LIST,
        BranchIn,
        BranchPatchIn,
        BranchOut,
        _company_part_handlers(
            Branch, "branch", BRANCH_LIST, BranchIn, BranchPatchIn, BranchOut, "branch_id"
        ),
    )
    _declare(
        api,
        "/api/held-products",
        "held_product_id",
        "product held by a person or company",
        HELD_PRODUCT_LIST,
        HeldProductIn,
        HeldProductPatchIn,
        HeldProductOut,
        _owned_handlers(
            HeldProduct,
            "held_product",
            HELD_PRODUCT_LIST,
            HeldProductIn,
            HeldProductPatchIn,
            HeldProductOut,
            "held_product_id",
        ),
    )
    _declare(
        api,
        "/api/contracts",
        "contract_id",
        "contract",
        CONTRACT_LIST,
        ContractIn,
        ContractPatchIn,
        ContractOut,
        _owned_handlers(
            Contract,
            "contract",
            CONTRACT_LIST,
            ContractIn,
            ContractPatchIn,
            ContractOut,
            "contract_id",
        ),
    )
