"""Networking v2.0: networks (routes land with their feature)."""

from fastapi import APIRouter

router = APIRouter()
