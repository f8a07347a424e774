"""Networking v2.0: extensions (routes land with their feature)."""

from fastapi import APIRouter

router = APIRouter()
