"""Networking v2.0: tags (routes land with their feature)."""

from fastapi import APIRouter

router = APIRouter()
