"""Networking v2.0 HTTP routes (Neutron-compatible), mounted at /networking."""

from fastapi import APIRouter

router = APIRouter()
