"""Networking v2.0: versions (routes land with their feature)."""

from fastapi import APIRouter

router = APIRouter()
