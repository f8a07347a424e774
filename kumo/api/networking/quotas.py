"""Networking v2.0: quotas (routes land with their feature)."""

from fastapi import APIRouter

router = APIRouter()
