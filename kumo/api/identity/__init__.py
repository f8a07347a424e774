"""Identity v3 HTTP routes (Keystone-compatible), mounted at /identity."""

from fastapi import APIRouter

router = APIRouter()
