"""Networking v2.0: ports (routes land with their feature)."""

from fastapi import APIRouter

router = APIRouter()
