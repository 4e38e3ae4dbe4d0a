"""Typed application keys of the shared kernel's objects, declared once."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from crm_core.bus.ports import EventBus
from crm_core.httpapi import ApiRegistry
from crm_core.settings import Settings
from crm_core.supervisor import TaskSupervisor
from crm_core.users.auth import AuthService
from crm_core.users.permissions import PolicyRegistry
from crm_core.users.service import UserService

__all__ = [
    "API",
    "AUTH",
    "BUS",
    "ENGINE",
    "POLICIES",
    "SESSIONS",
    "SETTINGS",
    "SUPERVISOR",
    "USERS",
]

SETTINGS = web.AppKey("settings", Settings)
ENGINE = web.AppKey("engine", AsyncEngine)
SESSIONS = web.AppKey("sessions", async_sessionmaker[AsyncSession])
BUS = web.AppKey("bus", EventBus)
SUPERVISOR = web.AppKey("supervisor", TaskSupervisor)
AUTH = web.AppKey("auth", AuthService)
USERS = web.AppKey("users", UserService)
POLICIES = web.AppKey("policies", PolicyRegistry)
API = web.AppKey("api", ApiRegistry)
